"""The unified message model and the pure functions that normalise channel data into it."""

from normalizer.identities import (
    DEFAULT_REGION,
    InvalidIdentity,
    fold_text,
    is_phone_region,
    normalize_identity,
)
from normalizer.keys import dedupe_key
from normalizer.model import (
    Attachment,
    Automation,
    ContentType,
    IdentityKind,
    IdentityRef,
    InboundMessage,
)
from normalizer.reply_window import ReplyAllowance, ReplyWindow
from normalizer.text import clean_text, split_text

__all__ = [
    "DEFAULT_REGION",
    "Attachment",
    "Automation",
    "ContentType",
    "IdentityKind",
    "IdentityRef",
    "InboundMessage",
    "InvalidIdentity",
    "ReplyAllowance",
    "ReplyWindow",
    "clean_text",
    "dedupe_key",
    "fold_text",
    "is_phone_region",
    "normalize_identity",
    "split_text",
]
