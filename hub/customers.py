"""One customer across channels: find the contact behind an identity, link what trusted sources assert."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.ids import new_id
from hub.models import AuditEntry, Contact, Conversation, Identity, row_values, utcnow
from normalizer import IdentityRef, normalize_identity

__all__ = ["CustomerDirectory", "merge_contacts"]

IdentityKey = tuple[str, str, str, str]
"""(workspace_id, kind, scope, value): an identity is unique per workspace."""


class CustomerDirectory:
    """The identities and contacts one transaction works with, loaded in bulk and kept current as it changes them.

    A batch of messages loads every sender's identity and contact in two queries (`load`); `resolve`
    then answers from memory, so a batch costs the same round trips whatever its size. New contacts and
    identities are kept as plain rows until `flush` inserts them, one statement per table, contacts first.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._identities: dict[IdentityKey, Identity] = {}
        self._absent: set[IdentityKey] = set()
        self._contacts: dict[str, Contact] = {}
        self._new_contacts: dict[str, dict[str, Any]] = {}
        self._new_identities: dict[IdentityKey, dict[str, Any]] = {}

    async def flush(self) -> None:
        """Insert the contacts and identities created since the last flush, in foreign key order."""
        if self._new_contacts:
            inserted = await self._session.scalars(
                insert(Contact).returning(Contact), list(self._new_contacts.values())
            )
            self._contacts |= {row.id: row for row in inserted}
            self._new_contacts.clear()
        if self._new_identities:
            inserted_identities = await self._session.scalars(
                insert(Identity).returning(Identity), list(self._new_identities.values())
            )
            self._identities |= {_key(row.workspace_id, row): row for row in inserted_identities}
            self._new_identities.clear()

    def identity_row(self, workspace_id: str, identity: IdentityRef) -> Identity:
        """The stored row of a normalised identity this directory resolved and flushed."""
        return self._identities[_key(workspace_id, identity)]

    async def load(self, wanted: list[tuple[str, IdentityRef]]) -> None:
        """Fetch the (workspace_id, normalised identity) pairs not known yet, and their contacts.

        One condition per namespace (workspace, kind, scope: usually one per batch) with the values in
        a list: PostgreSQL plans that several times faster than a row comparison per identity.
        """
        keys = {_key(workspace_id, identity) for workspace_id, identity in wanted}
        keys -= self._identities.keys() | self._new_identities.keys() | self._absent
        if not keys:
            return
        values_by_namespace: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for workspace_id, kind, scope, value in keys:
            values_by_namespace[(workspace_id, kind, scope)].append(value)
        rows = (
            await self._session.exec(
                select(Identity).where(
                    or_(
                        *(
                            and_(
                                col(Identity.workspace_id) == workspace_id,
                                col(Identity.kind) == kind,
                                col(Identity.scope) == scope,
                                col(Identity.value).in_(values),
                            )
                            for (workspace_id, kind, scope), values in values_by_namespace.items()
                        )
                    )
                )
            )
        ).all()
        for row in rows:
            self._identities[_key(row.workspace_id, row)] = row
        self._absent |= keys - self._identities.keys()
        await self._load_contacts({row.contact_id for row in rows})

    async def resolve(
        self,
        workspace_id: str,
        sender: IdentityRef,
        linked: tuple[IdentityRef, ...] = (),
        name: str | None = None,
    ) -> tuple[str, str]:
        """The ids of the contact and identity of `sender`, created when new (inserted by `flush`).

        Verified linked identities (e.g. a cross-app id the channel asserts) that already belong to
        another contact merge the two, so one person has one contact.
        """
        sender = normalize_identity(sender)
        verified_links = [normalize_identity(identity) for identity in linked if identity.verified]
        wanted = [sender, *verified_links]
        await self.load([(workspace_id, identity) for identity in wanted])
        found_contacts = [
            contact_id
            for identity in wanted
            if (contact_id := self._contact_of(_key(workspace_id, identity))) is not None
        ]
        contact_ids = list(dict.fromkeys([await self._surviving(each) for each in found_contacts]))
        sender_contact = self._contact_of(_key(workspace_id, sender))
        if sender_contact is not None:
            survivor = await self._surviving(sender_contact)
        elif contact_ids:
            survivor = contact_ids[0]
        else:
            survivor = new_id()
            self._new_contacts[survivor] = row_values(
                Contact, id=survivor, workspace_id=workspace_id, name=name
            )
        if name:
            self._name_if_unnamed(survivor, name)
        merged = [contact_id for contact_id in contact_ids if contact_id != survivor]
        if merged:
            await self.flush()
            for contact_id in merged:
                await merge_contacts(
                    self._session,
                    self._contacts[survivor],
                    self._contacts[contact_id],
                    actor_type="system",
                    reason="verified identity link",
                )

        for identity in wanted:
            key = _key(workspace_id, identity)
            row = self._identities.get(key)
            staged = self._new_identities.get(key)
            if row is not None:
                if row.contact_id != survivor:
                    row.contact_id = survivor
            elif staged is not None:
                staged["contact_id"] = survivor
            else:
                self._new_identities[key] = row_values(
                    Identity,
                    id=new_id(),
                    workspace_id=workspace_id,
                    contact_id=survivor,
                    kind=identity.kind,
                    value=identity.value,
                    scope=identity.scope,
                    verified=identity.verified,
                )
                self._absent.discard(key)
        sender_key = _key(workspace_id, sender)
        sender_row = self._identities.get(sender_key)
        return survivor, sender_row.id if sender_row is not None else self._new_identities[sender_key]["id"]

    def _contact_of(self, key: IdentityKey) -> str | None:
        row = self._identities.get(key)
        if row is not None:
            return row.contact_id
        staged = self._new_identities.get(key)
        return None if staged is None else staged["contact_id"]

    def _name_if_unnamed(self, contact_id: str, name: str) -> None:
        staged = self._new_contacts.get(contact_id)
        if staged is not None:
            staged["name"] = staged["name"] or name
        elif not self._contacts[contact_id].name:
            self._contacts[contact_id].name = name

    async def _load_contacts(self, contact_ids: set[str]) -> None:
        """Load contacts and, following merges, the contacts they were merged into."""
        missing = contact_ids - self._contacts.keys() - self._new_contacts.keys()
        while missing:
            rows = (await self._session.exec(select(Contact).where(col(Contact.id).in_(list(missing))))).all()
            for row in rows:
                self._contacts[row.id] = row
            missing = {row.merged_into for row in rows if row.merged_into} - self._contacts.keys()

    async def _surviving(self, contact_id: str) -> str:
        """The contact `contact_id` was merged into, or itself (a contact created here is never merged)."""
        if contact_id in self._new_contacts:
            return contact_id
        await self._load_contacts({contact_id})
        contact = self._contacts.get(contact_id)
        while contact is not None and contact.merged_into:
            await self._load_contacts({contact.merged_into})
            contact = self._contacts.get(contact.merged_into)
        assert contact is not None, f"contact {contact_id} is missing"
        return contact.id


async def merge_contacts(
    session: AsyncSession,
    survivor: Contact,
    merged: Contact,
    *,
    actor_type: str,
    reason: str,
    actor_id: str | None = None,
) -> None:
    """Move identities and conversations to `survivor`; `merged` stays as a tombstone, audited."""
    moved_identities = (await session.exec(select(Identity.id).where(Identity.contact_id == merged.id))).all()
    moved_conversations = (
        await session.exec(select(Conversation.id).where(Conversation.contact_id == merged.id))
    ).all()
    await session.execute(
        update(Identity).where(col(Identity.contact_id) == merged.id).values(contact_id=survivor.id)
    )
    await session.execute(
        update(Conversation).where(col(Conversation.contact_id) == merged.id).values(contact_id=survivor.id)
    )
    merged.merged_into = survivor.id
    merged.updated_at = utcnow()
    session.add(
        AuditEntry(
            workspace_id=survivor.workspace_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action="contact.merged",
            subject_type="contact",
            subject_id=survivor.id,
            details={
                "merged_contact_id": merged.id,
                "reason": reason,
                "identity_ids": list(moved_identities),
                "conversation_ids": list(moved_conversations),
            },
        )
    )


def _key(workspace_id: str, identity: IdentityRef | Identity) -> IdentityKey:
    return (workspace_id, identity.kind, identity.scope, identity.value)
