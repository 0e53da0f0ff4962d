"""Checking real answers against the served OpenAPI document."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema_rs

OPEN_SCHEMAS = {"InboxView"}
"""Shapes with keys beside the declared ones: an inbox also answers its channel's public connection facts."""


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


class Conformance:
    """Checks answers against `document`: the status is declared for the operation, and the JSON body is valid
    under the declared schema with every object closed (no key the document does not name)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document
        self._components = _closed(document["components"])
        self._validators: dict[tuple[str, str, int], Any] = {}

    def check(self, template: str, method: str, answer: Any) -> None:
        key = (template, method.lower(), answer.status_code)
        if key not in self._validators:
            responses = self._document["paths"][template][method.lower()]["responses"]
            declared = responses.get(str(answer.status_code))
            assert declared is not None, f"{method} {template} answered {answer.status_code}, not declared"
            content = declared.get("content") or {}
            json_body = content.get("application/json")
            self._validators[key] = (
                jsonschema_rs.validator_for({**json_body["schema"], "components": self._components})
                if json_body
                else bool(content)
            )
        validator = self._validators[key]
        if validator is False:
            assert not answer.content, f"{method} {template} {answer.status_code} declares no body"
            return
        if validator is True:
            return  # a body in the media type the declared content names, e.g. a channel's acknowledgement
        errors = [str(error) for error in validator.iter_errors(answer.json())]
        assert not errors, f"{method} {template} {answer.status_code}: {errors} in {answer.text[:1000]}"


def _closed(components: dict[str, Any]) -> dict[str, Any]:
    """The component schemas with `additionalProperties: false` on every object that lists its properties."""
    closed = copy.deepcopy(components)

    def close(schema: Any, name: str | None = None) -> None:
        if isinstance(schema, list):
            for each in schema:
                close(each)
            return
        if not isinstance(schema, dict):
            return
        if "properties" in schema and "additionalProperties" not in schema and name not in OPEN_SCHEMAS:
            schema["additionalProperties"] = False
        for key, value in schema.items():
            if key == "properties":
                close(list(value.values()))
            else:
                close(value)

    for name, schema in closed["schemas"].items():
        close(schema, name)
    return closed
