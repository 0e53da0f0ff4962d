"""Mail text to Unicode without mojibake, whatever the mail says its charset is.

Mail clients label text wrongly all the time: GBK or GB18030 bytes labelled GB2312, UTF-8 labelled Latin-1, Big5
with Microsoft's extensions, no label at all. The label is a hint here, never the last word: strictly valid UTF-8
wins, then the label read as its widest superset, then a detector, and replacement characters only at the very end.
A single-byte label (Latin-1, Windows-1251...) decodes anything, so it is trusted once the bytes are not UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

from charset_normalizer import from_bytes

__all__ = ["decode_8bit_header", "decode_header_value", "decode_text"]

SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "big5": "cp950",
    "x-big5": "cp950",
    "shift_jis": "cp932",
    "euc_jp": "euc_jis_2004",
    "euc_kr": "cp949",
    "iso2022_jp": "iso2022_jp_ext",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso8859-11": "cp874",
}
"""Labels (or Python's names for them) to the codec that decodes what clients really send under them, as the WHATWG
encoding standard does: Latin-1 mail is Windows-1252, GB2312 mail is GBK or GB18030, Big5 mail is Microsoft's 950."""

SEVEN_BIT = frozenset({"iso2022_jp_ext", "iso2022_jp_2", "iso2022_kr", "hz", "utf-7"})
"""Encodings that write non-ASCII text in ASCII bytes: only their label (or their escape sequences) tells."""
MULTI_BYTE = (
    frozenset({"utf-8", "gb18030", "cp950", "big5hkscs", "cp932", "euc_jis_2004", "cp949", "johab"})
    | SEVEN_BIT
)
_DETECTABLE_MINIMUM = 8
"""Fewer bytes than this tell a detector nothing reliable."""
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_BETWEEN_ENCODED_WORDS = re.compile(r"(\?=)\s+(=\?)")


def decode_text(data: bytes, declared: str | None) -> str:
    """`data` as text: a 7-bit encoding's label first, then valid UTF-8, then the label's superset, then detection."""
    codec = _codec(declared)
    if codec is None and b"\x1b$" in data:
        codec = "iso2022_jp_ext"
    if codec is not None and (codec in SEVEN_BIT or codec.startswith(("utf-16", "utf-32"))):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None and codec not in SEVEN_BIT:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            if codec not in MULTI_BYTE:
                return data.decode("latin-1" if codec == "cp1252" else codec, errors="replace")
    detected = _detected(data)
    if detected is not None:
        return detected
    for fallback in ("gb18030", "utf-8"):
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_value(raw: str) -> str:
    """A header's value as text: RFC 2047 encoded words decoded (adjacent words of one charset joined first, since
    clients split multi-byte characters across them) and raw 8-bit bytes (kept as surrogates) decoded too."""
    raw = _BETWEEN_ENCODED_WORDS.sub(r"\1\2", raw)
    pieces: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(raw):
        if match.start() > position:
            if pending:
                pieces.append(decode_text(bytes(pending), pending_charset))
                pending, pending_charset = bytearray(), None
            pieces.append(decode_8bit_header(raw[position : match.start()]))
        charset = match.group(1).partition("*")[0].lower()
        word = _word_bytes(match.group(2).upper(), match.group(3))
        if word is None:
            pieces.append(match.group(0))
        else:
            if pending and charset != pending_charset:
                pieces.append(decode_text(bytes(pending), pending_charset))
                pending = bytearray()
            pending += word
            pending_charset = charset
        position = match.end()
    if pending:
        pieces.append(decode_text(bytes(pending), pending_charset))
    pieces.append(decode_8bit_header(raw[position:]))
    return "".join(pieces)


def decode_8bit_header(text: str) -> str:
    """Header text with raw 8-bit bytes (received as surrogate escapes) decoded like a body without label;
    encoded words are left as they are."""
    if text.isascii():
        return text
    return decode_text(text.encode("utf-8", errors="surrogateescape"), None)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding == "B":
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        return quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _codec(declared: str | None) -> str | None:
    """The codec to read a label with (its superset), or None for no label or one Python does not know."""
    if not declared:
        return None
    label = declared.strip().strip('"').lower()
    if label in SUPERSETS:
        return SUPERSETS[label]
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return SUPERSETS.get(name, name)


def _detected(data: bytes) -> str | None:
    """A detector's reading, for text that is neither UTF-8 nor what its label says (or that has no label)."""
    if len(data) < _DETECTABLE_MINIMUM:
        return None
    best = from_bytes(data).best()
    if best is None:
        return None
    codec = _codec(best.encoding) or best.encoding
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return str(best)
