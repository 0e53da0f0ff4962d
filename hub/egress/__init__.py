"""One egress policy for every outgoing request the hub makes for a user; see hub.egress.policy."""

from hub.egress.client import DeadlineExceeded, ResponseTooLarge, guarded_client
from hub.egress.connect import guarded_connect
from hub.egress.policy import EgressPolicy, Resolver, system_resolver
from hub.egress.posts import Answer, KeptConnections, PostFailed, PostLane, PostRequest, PostTarget

__all__ = [
    "Answer",
    "DeadlineExceeded",
    "EgressPolicy",
    "KeptConnections",
    "PostFailed",
    "PostLane",
    "PostRequest",
    "PostTarget",
    "Resolver",
    "ResponseTooLarge",
    "guarded_client",
    "guarded_connect",
    "system_resolver",
]
