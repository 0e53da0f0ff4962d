"""One egress policy for every outgoing request the hub makes for a user; see hub.egress.policy."""

from hub.egress.client import DeadlineExceeded, ResponseTooLarge, guarded_client
from hub.egress.connect import guarded_connect
from hub.egress.policy import EgressPolicy, Resolver, system_resolver

__all__ = [
    "DeadlineExceeded",
    "EgressPolicy",
    "Resolver",
    "ResponseTooLarge",
    "guarded_client",
    "guarded_connect",
    "system_resolver",
]
