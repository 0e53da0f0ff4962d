"""Re-encrypt every stored secret under the current secret key, so older keys can be retired.

Secrets at rest are inbox settings marked encrypted and the values of the connectors' shared
store. Processes running meanwhile keep working: they decrypt with the current key or a fallback
key, and whatever they write is under the current key already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from hub.models import Inbox, SharedValue
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
    unreadable: list[str] = field(default_factory=list)
    """What no configured key decrypts, by inbox and setting name or shared-store key (never the value)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "inbox_secrets": vars(self.inbox_secrets),
            "shared_values": vars(self.shared_values),
            "unreadable": self.unreadable,
        }


async def rotate_secrets(hub: Hub) -> RotationReport:
    report = RotationReport()
    await _rotate_inbox_secrets(hub, report)
    await _rotate_shared_values(hub, report)
    return report


async def _rotate_inbox_secrets(hub: Hub, report: RotationReport) -> None:
    """One inbox at a time, its row locked, so a settings change made meanwhile is not overwritten."""
    async with hub.database.session() as session:
        inbox_ids = (await session.exec(select(Inbox.id).order_by(Inbox.id))).all()
    for inbox_id in inbox_ids:
        async with hub.database.session() as session:
            inbox = (await session.exec(select(Inbox).where(Inbox.id == inbox_id).with_for_update())).first()
            if inbox is None:
                continue
            settings = dict(inbox.settings)
            for name, value in inbox.settings.items():
                if not (isinstance(value, dict) and ENCRYPTED in value):
                    continue
                try:
                    ciphertext = hub.box.reencrypted(value[ENCRYPTED])
                except ValueError:
                    report.unreadable.append(f"inbox {inbox.id} setting {name}")
                    continue
                if ciphertext is None:
                    report.inbox_secrets.already_current += 1
                else:
                    settings[name] = {ENCRYPTED: ciphertext}
                    report.inbox_secrets.reencrypted += 1
            if settings != inbox.settings:
                inbox.settings = settings
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
