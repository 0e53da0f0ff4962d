"""What the API refuses in a request's fields: one 422 shape, naming the field, for every resource."""

from __future__ import annotations

from hub.errors import ApiError
from normalizer import clean_text

__all__ = ["invalid_field", "required_text"]


def invalid_field(field: str, message: str, code: str = "invalid_input") -> ApiError:
    """422 `code`, "<field>: <message>.", with the field in `errors`: a client shows it beside that input."""
    return ApiError(422, code, f"{field}: {message}.", extra=[{"field": field, "message": message}])


def required_text(field: str, value: str) -> str:
    """Free text as stored: control characters removed, trimmed; 422 `invalid_input` "<field> must not be empty."
    when nothing is left, so a name or text of only spaces is refused alike everywhere."""
    cleaned = clean_text(value)
    if not cleaned:
        raise ApiError(
            422,
            "invalid_input",
            f"{field} must not be empty.",
            extra=[{"field": field, "message": "must not be empty"}],
        )
    return cleaned
