"""Re-encrypt every stored secret under the current secret key, so older keys can be retired.

Secrets at rest are inbox settings marked encrypted, the values of the connectors' shared
store, the bot engines' credentials and the webhook subscriptions' signing secrets. The kept answers of
idempotent requests (sealed, a day at most) are dropped rather than re-encrypted: a repeat then runs afresh. Processes running meanwhile keep working: they decrypt with the current key or a fallback
key, and whatever they write is under the current key already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from hub.models import IdempotentRequest, Inbox, SharedValue, WebhookSubscription, WorkspaceBot
from hub.runtime import ENCRYPTED, Hub

__all__ = ["RotationReport", "Tally", "rotate_secrets"]


@dataclass
class Tally:
    reencrypted: int = 0
    already_current: int = 0


@dataclass
class RotationReport:
    inbox_secrets: Tally = field(default_factory=Tally)
    shared_values: Tally = field(default_factory=Tally)
    bot_secrets: Tally = field(default_factory=Tally)
    """The bot engines' API key and signing secret (`WorkspaceBot`)."""
    webhook_secrets: Tally = field(default_factory=Tally)
    """The webhook subscriptions' signing secrets, current and previous."""
    unreadable: list[str] = field(default_factory=list)
    """What no configured key decrypts, by inbox and setting name or shared-store key (never the value)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "inbox_secrets": vars(self.inbox_secrets),
            "shared_values": vars(self.shared_values),
            "bot_secrets": vars(self.bot_secrets),
            "webhook_secrets": vars(self.webhook_secrets),
            "unreadable": self.unreadable,
        }


async def rotate_secrets(hub: Hub) -> RotationReport:
    report = RotationReport()
    await _rotate_inbox_secrets(hub, report)
    await _rotate_shared_values(hub, report)
    await _rotate_bot_secrets(hub, report)
    await _rotate_webhook_secrets(hub, report)
    return report


async def _rotate_webhook_secrets(hub: Hub, report: RotationReport) -> None:
    """Each secret is replaced only if unchanged since it was read (a rotation meanwhile sealed it afresh)."""
    async with hub.database.session() as session:
        await session.exec(delete(IdempotentRequest))
        stored = (
            await session.exec(
                select(
                    WebhookSubscription.id, WebhookSubscription.secret, WebhookSubscription.previous_secret
                )
            )
        ).all()
        await session.commit()
    for subscription_id, *secrets in stored:
        for column, value in zip(("secret", "previous_secret"), secrets, strict=True):
            if value is None:
                continue
            try:
                ciphertext = hub.box.reencrypted(value)
            except ValueError:
                report.unreadable.append(f"webhook {subscription_id} {column}")
                continue
            replaced = 0
            if ciphertext is not None:
                async with hub.database.session() as session:
                    swapped = await session.exec(
                        update(WebhookSubscription)
                        .where(
                            col(WebhookSubscription.id) == subscription_id,
                            getattr(WebhookSubscription, column) == value,
                        )
                        .values({column: ciphertext})
                    )
                    await session.commit()
                replaced = swapped.rowcount
            if replaced == 1:
                report.webhook_secrets.reencrypted += 1
            else:
                report.webhook_secrets.already_current += 1


async def _rotate_inbox_secrets(hub: Hub, report: RotationReport) -> None:
    await _rotate_sealed_columns(
        hub,
        report,
        report.inbox_secrets,
        Inbox,
        col(Inbox.id),
        ("settings",),
        lambda inbox_id, _, name: f"inbox {inbox_id} setting {name}",
    )


async def _rotate_bot_secrets(hub: Hub, report: RotationReport) -> None:
    await _rotate_sealed_columns(
        hub,
        report,
        report.bot_secrets,
        WorkspaceBot,
        col(WorkspaceBot.workspace_id),
        ("llm", "webhook"),
        lambda workspace_id, engine, name: f"workspace {workspace_id} bot engine {engine} {name}",
    )


async def _rotate_sealed_columns(
    hub: Hub,
    report: RotationReport,
    tally: Tally,
    model: type[Inbox] | type[WorkspaceBot],
    key: Mapped[str],
    columns: tuple[str, ...],
    place: Callable[[str, str, str], str],
) -> None:
    """Sealed values (`{ENCRYPTED: ...}`) inside a table's JSON columns, one row at a time with the row locked,
    so a settings change made meanwhile is not overwritten."""
    async with hub.database.session() as session:
        row_ids = (await session.exec(select(key).order_by(key))).all()
    for row_id in row_ids:
        async with hub.database.session() as session:
            row = (await session.exec(select(model).where(key == row_id).with_for_update())).first()
            if row is None:
                continue
            changed = False
            for column in columns:
                stored: dict[str, Any] = getattr(row, column)
                resealed = dict(stored)
                for name, value in stored.items():
                    if not (isinstance(value, dict) and ENCRYPTED in value):
                        continue
                    try:
                        ciphertext = hub.box.reencrypted(value[ENCRYPTED])
                    except ValueError:
                        report.unreadable.append(place(row_id, column, name))
                        continue
                    if ciphertext is None:
                        tally.already_current += 1
                    else:
                        resealed[name] = {ENCRYPTED: ciphertext}
                        tally.reencrypted += 1
                if resealed != stored:
                    setattr(row, column, resealed)
                    changed = True
            if changed:
                await session.commit()


async def _rotate_shared_values(hub: Hub, report: RotationReport) -> None:
    """Each value is replaced only if unchanged since it was read: a newer one is under the current key already."""
    async with hub.database.session() as session:
        stored = (
            await session.exec(select(SharedValue.key, SharedValue.value).order_by(SharedValue.key))
        ).all()
    for key, value in stored:
        try:
            ciphertext = hub.box.reencrypted(value)
        except ValueError:
            report.unreadable.append(f"shared value {key}")
            continue
        if ciphertext is None:
            report.shared_values.already_current += 1
            continue
        async with hub.database.session() as session:
            replaced = await session.exec(
                update(SharedValue)
                .where(col(SharedValue.key) == key, col(SharedValue.value) == value)
                .values(value=ciphertext)
            )
            await session.commit()
        if replaced.rowcount == 1:
            report.shared_values.reencrypted += 1
        else:
            report.shared_values.already_current += 1
