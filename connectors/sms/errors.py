"""What Twilio's error codes mean, as an agent reads them on a reply that failed.

From https://www.twilio.com/docs/api/errors: the codes a reply to a customer commonly meets.
"""

from __future__ import annotations

__all__ = ["explain_error_code"]

_MEANINGS = {
    21211: "The customer's number is not a valid phone number",
    21408: "This Twilio account may not send SMS to the customer's country",
    21610: "The customer unsubscribed from this number (they texted STOP); they must text START to receive replies",
    21612: "Twilio cannot route a message from this number to the customer's number",
    21614: "The customer's number is not a mobile number",
    21606: "The inbox's from_number is not a Twilio number of this account that can send SMS",
    21703: "The inbox's Messaging Service has no phone number to send from",
    30003: "The customer's phone is unreachable (switched off or out of coverage)",
    30004: "The message was blocked (the customer may have blocked this number)",
    30005: "The customer's number is unknown to its carrier",
    30006: "The customer's number is a landline or its carrier cannot receive SMS",
    30007: "The carrier filtered the message as spam",
    30008: "The carrier reported an unknown delivery error",
    30034: "The message came from an unregistered US 10DLC number and was blocked",
}


def explain_error_code(code: int) -> str | None:
    return _MEANINGS.get(code)
