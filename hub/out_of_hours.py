"""Out of hours: a customer who writes while the inbox is closed gets its out-of-hours message once per
conversation, and the conversation opens a ticket or waits, by the inbox's setting (`routing.out_of_hours`).

Runs in the worker after the customer's messages are stored. The message is a system reply with a fixed
client id, so the conversation's dedupe key lets it be stored once however many messages (or retried jobs)
arrive out of hours; the ticket is opened by hub.ticket_rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub import outbound, ticket_rules, tickets
from hub.models import Conversation
from hub.runtime import Hub
from hub.statuses import ConversationStatus, SenderType, TicketSource
from routing.hours import ALWAYS_OPEN
from routing.out_of_hours import OutOfHoursAction, out_of_hours

__all__ = ["NOTICE_CLIENT_ID", "CustomerWrote", "answer_out_of_hours"]

NOTICE_CLIENT_ID = "out-of-hours"


@dataclass(frozen=True, slots=True)
class CustomerWrote:
    conversation: Conversation
    text: str
    automated: bool
    """An auto-reply, bounce or list mail: nothing answers it."""


async def answer_out_of_hours(hub: Hub, received: Sequence[CustomerWrote]) -> None:
    """Send the notice and open the ticket for the conversations whose customer wrote while their inbox is closed."""
    candidates = [
        each for each in received if not each.automated and each.conversation.status != ConversationStatus.BOT
    ]
    if not candidates:
        return
    async with hub.database.session() as session:
        levels = await tickets.service_levels(session, {each.conversation.inbox_id for each in candidates})
    now = hub.now()
    for each in candidates:
        level = levels[each.conversation.inbox_id]
        if level.hours is ALWAYS_OPEN:
            continue
        decision = out_of_hours(level.hours, now, last_notice_at=None, action=level.out_of_hours_action)
        if decision.action is None:
            continue
        if level.out_of_hours_message:
            await outbound.create_message(
                hub,
                each.conversation,
                text=level.out_of_hours_message,
                direction="out",
                sender_type=SenderType.SYSTEM,
                sender_id=None,
                client_id=NOTICE_CLIENT_ID,
            )
        if decision.action is OutOfHoursAction.TICKET:
            await ticket_rules.open_for_conversation(
                hub, each.conversation, TicketSource.OUT_OF_HOURS, each.text
            )
