"""The types every request field and parameter is declared with: one place for the input limits.

Declared on the request models and handler parameters, so Litestar refuses what breaks them
(400 naming the field) before a handler or the database sees it, and the OpenAPI document shows
them. Ids, tokens and other machine values are refused when they hold anything but their
characters; free text (messages, names) is cleaned by `normalizer.clean_text` where it is used, and
only its length is limited here. README.md ("Input limits") lists them.

Patterns are read by Python's `re.search` and by OpenAPI clients alike, so they keep to the syntax
both share (Python's `$` also matches before a final newline, which is harmless here).
"""

from __future__ import annotations

import re
from typing import Annotated

from litestar.params import PathParameter, QueryParameter
from msgspec import Meta

__all__ = [
    "ArrayLimitQuery",
    "AttachmentMeta",
    "ClientId",
    "CursorQuery",
    "Email",
    "Id",
    "IdPath",
    "IdQuery",
    "InboxSettings",
    "Kind",
    "KindPath",
    "KindQuery",
    "MimeType",
    "Name",
    "Password",
    "StatusQuery",
    "SubPath",
    "TokenPath",
    "WebUrl",
    "looks_like_token",
    "mime_type_or_none",
]

SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
"""No C0 control character (NUL, line breaks...) and no DEL: what a machine value never holds."""
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""The same with tabs and line breaks allowed: configuration texts such as a greeting."""

MAX_ID_LENGTH = 64
ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}$"
"""Hub ids are UUIDs; inbox public tokens and file ids are URL-safe base64."""
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_NAME_LENGTH = 100
MAX_CLIENT_ID_LENGTH = 100
MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 1024
MAX_URL_LENGTH = 2000
MAX_PLAIN_TEXT_LENGTH = 2000
MAX_ENTRIES = 50
MAX_ATTACHMENT_META_ENTRIES = 20
MAX_MIME_TYPE_LENGTH = 120
MIME_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$"
"""RFC 6838 `type/subtype`, without parameters."""

_TOKEN = re.compile(ID_PATTERN)
_MIME_TYPE = re.compile(MIME_TYPE_PATTERN)


def looks_like_token(value: str) -> bool:
    """For a token that arrives where no declared parameter checks it (a preflight's path, a socket's): one of
    another shape names nothing, and is not sent to the database (where a NUL would be an error, not a miss)."""
    return _TOKEN.fullmatch(value) is not None


def mime_type_or_none(value: str | None) -> str | None:
    """`type/subtype` in lower case, parameters dropped; None when `value` is not one (it would break a header)."""
    essence = (value or "").split(";", 1)[0].strip().lower()
    return essence if _MIME_TYPE.fullmatch(essence) else None


# Handler parameters.
IdPath = Annotated[
    str, PathParameter(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH, description="An id the hub issued.")
]
IdQuery = Annotated[
    str | None,
    QueryParameter(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH, description="An id the hub issued."),
]
TokenPath = Annotated[
    str, PathParameter(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH, description="A token the hub issued.")
]
KindPath = Annotated[
    str,
    PathParameter(pattern=KIND_PATTERN, max_length=40, description="A channel kind: a connector's `kind`."),
]
KindQuery = Annotated[
    str | None,
    QueryParameter(pattern=KIND_PATTERN, max_length=40, description="A channel kind: a connector's `kind`."),
]
SubPath = Annotated[
    str,
    PathParameter(
        pattern=r"^[^\x00-\x1f\x7f]{1,200}$",
        max_length=200,
        description="A channel's secondary hook, e.g. status.",
    ),
]
StatusQuery = Annotated[
    str | None,
    QueryParameter(
        pattern=r"^[a-z_]{1,20}(,[a-z_]{1,20}){0,9}$",
        max_length=209,
        description="Comma-separated conversation statuses.",
    ),
]
MAX_CURSOR_LENGTH = 800
"""Room for the longest sort key a cursor carries: a team's name of 100 characters, 4 bytes each, in base64."""
CursorQuery = Annotated[
    str | None,
    QueryParameter(
        pattern=rf"^[A-Za-z0-9_=-]{{1,{MAX_CURSOR_LENGTH}}}$",
        max_length=MAX_CURSOR_LENGTH,
        description="The `next_cursor` of the previous page.",
    ),
]
ArrayLimitQuery = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=100,
        description="Page the list: at most this many rows, and a `Link` header naming the next page while more "
        "remain (100 when only `cursor` is given). With neither `limit` nor `cursor`: every row, unpaged.",
    ),
]

# Body fields.
Id = Annotated[str, Meta(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH, description="An id the hub issued.")]
Kind = Annotated[
    str, Meta(pattern=KIND_PATTERN, max_length=40, description="A channel kind: a connector's `kind`.")
]
ClientId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_CLIENT_ID_LENGTH,
        pattern=SINGLE_LINE,
        description="The sender's key for this message: a retry with it is stored once.",
    ),
]
Name = Annotated[str, Meta(max_length=MAX_NAME_LENGTH, description="A name; control characters are removed.")]
Email = Annotated[str, Meta(max_length=MAX_EMAIL_LENGTH, pattern=SINGLE_LINE)]
Password = Annotated[str, Meta(max_length=MAX_PASSWORD_LENGTH)]
WebUrl = Annotated[str, Meta(max_length=MAX_URL_LENGTH, pattern=SINGLE_LINE)]
MimeType = Annotated[
    str, Meta(max_length=MAX_MIME_TYPE_LENGTH, pattern=MIME_TYPE_PATTERN, description="e.g. image/png")
]
PlainText = Annotated[str, Meta(max_length=MAX_PLAIN_TEXT_LENGTH, pattern=MULTI_LINE)]
Scalar = PlainText | int | float | bool | None
Key = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=SINGLE_LINE)]
SettingValue = (
    Scalar
    | Annotated[list[Scalar], Meta(max_length=MAX_ENTRIES)]
    | Annotated[dict[Key, Scalar], Meta(max_length=MAX_ENTRIES)]
)
InboxSettings = Annotated[
    dict[Key, SettingValue],
    Meta(
        max_length=MAX_ENTRIES,
        description=(
            "The channel's settings: texts, numbers, flags, or lists or objects of those; the channel's model judges them."
        ),
    ),
]
AttachmentMeta = Annotated[
    dict[Key, Scalar],
    Meta(
        max_length=MAX_ATTACHMENT_META_ENTRIES,
        description=(
            "What the channel needs besides the URL, e.g. a link's description or a mini program card's page_path."
        ),
    ),
]
