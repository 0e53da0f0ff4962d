"""Reading WeChat's XML and JSON bodies safely: size-limited, no DTDs or entities, declared charsets honoured."""

from __future__ import annotations

import codecs
import re
from typing import Any, Literal
from xml.parsers import expat

import msgspec

from connectors.base import MalformedPayload

__all__ = ["DataFormat", "Fields", "decode_xml_text", "read_document"]

DataFormat = Literal["xml", "json"]

Fields = dict[str, Any]
"""A message's top-level fields: strings, or nested Fields (and lists of them) for nested elements."""

_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_ACCEPTED_CHARSETS = frozenset({"utf-8", "gbk", "gb2312", "gb18030", "big5", "ascii", "iso8859-1"})
"""Charsets Chinese systems declare; anything else is refused rather than guessed."""


def read_document(body: bytes, data_format: DataFormat, max_bytes: int) -> Fields:
    if not body.strip():
        raise MalformedPayload("empty body")
    if len(body) > max_bytes:
        raise MalformedPayload(f"body of {len(body)} bytes is over the {max_bytes}-byte limit")
    return _read_xml(body) if data_format == "xml" else _read_json(body)


def decode_xml_text(body: bytes) -> str:
    """The body as text in its declared charset. Raises MalformedPayload."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    declared = _DECLARED_ENCODING.match(body)
    charset = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise MalformedPayload(f"unknown XML encoding {charset!r}") from None
    if codec not in _ACCEPTED_CHARSETS:
        raise MalformedPayload(f"unsupported XML encoding {charset!r}")
    try:
        return body.decode(codec)
    except UnicodeDecodeError as error:
        raise MalformedPayload(f"body is not valid {charset}: {error.reason} at byte {error.start}") from None


def _read_xml(body: bytes) -> Fields:
    builder = _FieldsBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    try:
        # A str is parsed as UTF-8 whatever the declaration says, so non-UTF-8 charsets are decoded first.
        parser.Parse(decode_xml_text(body), True)
    except expat.ExpatError as error:
        raise MalformedPayload(
            f"XML is not well-formed: {expat.errors.messages[error.code]} at line {error.lineno}"
        ) from None
    return builder.root_fields()


def _refuse_doctype(*_declaration: object) -> None:
    """No DTD means no entity declarations: neither entity bombs nor external entities can exist."""
    raise MalformedPayload("XML with a DOCTYPE is refused (entity declarations are not allowed)")


class _FieldsBuilder:
    """Builds Fields without recursion, so deep nesting cannot exhaust the stack."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, Fields, list[str]]] = []
        self._root: tuple[str, Fields] | None = None

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        self._stack.append((tag, {}, []))

    def text(self, data: str) -> None:
        if self._stack:
            self._stack[-1][2].append(data)

    def end(self, tag: str) -> None:
        _, children, text = self._stack.pop()
        value: Any = children if children else "".join(text)
        if not self._stack:
            self._root = (tag, children)
            return
        siblings = self._stack[-1][1]
        if tag not in siblings:
            siblings[tag] = value
        elif isinstance(siblings[tag], list):
            siblings[tag].append(value)
        else:
            siblings[tag] = [siblings[tag], value]

    def root_fields(self) -> Fields:
        if self._root is None or self._root[0] != "xml":
            raise MalformedPayload("the root element must be <xml>")
        if not self._root[1]:
            raise MalformedPayload("<xml> has no fields")
        return self._root[1]


def _read_json(body: bytes) -> Fields:
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise MalformedPayload(f"body is not JSON: {error}") from None
    except UnicodeDecodeError as error:
        raise MalformedPayload(f"JSON is not UTF-8: {error.reason} at byte {error.start}") from None
    except RecursionError:
        raise MalformedPayload("JSON is nested too deeply") from None
    if not isinstance(document, dict) or not document:
        raise MalformedPayload("body must be a non-empty JSON object")
    return {name: _json_field(value) for name, value in document.items() if value is not None}


def _json_field(value: Any) -> Any:
    """Scalars as strings, like XML text, so both formats read the same way."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value
