"""One customer across channels: find the contact behind an identity, link what trusted sources assert."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import AuditEntry, Contact, Conversation, Identity, new_row, utcnow
from normalizer import IdentityRef, normalize_identity

__all__ = ["CustomerDirectory", "merge_contacts"]

IdentityKey = tuple[str, str, str, str]
"""(workspace_id, kind, scope, value): an identity is unique per workspace."""


class CustomerDirectory:
    """The identities and contacts one transaction works with, loaded in bulk and kept current as it changes them.

    A batch of messages loads every sender's identity and contact in two queries (`load`); `resolve`
    then answers from memory, so a batch costs the same round trips whatever its size. New rows are
    written by `flush`, contacts before the identities that point at them.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._identities: dict[IdentityKey, Identity] = {}
        self._absent: set[IdentityKey] = set()
        self._contacts: dict[str, Contact] = {}
        self._new_contacts: list[Contact] = []
        self._new_identities: list[Identity] = []

    async def flush(self) -> None:
        """Write the contacts and identities created since the last flush, in foreign key order."""
        for new_rows in (self._new_contacts, self._new_identities):
            if new_rows:
                self._session.add_all(new_rows)
                await self._session.flush()
                new_rows.clear()

    async def load(self, wanted: list[tuple[str, IdentityRef]]) -> None:
        """Fetch the (workspace_id, normalised identity) pairs not known yet, and their contacts.

        One condition per namespace (workspace, kind, scope: usually one per batch) with the values in
        a list: PostgreSQL plans that several times faster than a row comparison per identity.
        """
        keys = {_key(workspace_id, identity) for workspace_id, identity in wanted}
        keys -= self._identities.keys() | self._absent
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
    ) -> tuple[Contact, Identity]:
        """The contact and identity row of `sender`, created when new.

        Verified linked identities (e.g. a cross-app id the channel asserts) that already belong to
        another contact merge the two, so one person has one contact.
        """
        sender = normalize_identity(sender)
        verified_links = [normalize_identity(identity) for identity in linked if identity.verified]
        wanted = [sender, *verified_links]
        await self.load([(workspace_id, identity) for identity in wanted])
        found = {
            _key(workspace_id, identity): self._identities[_key(workspace_id, identity)]
            for identity in wanted
            if _key(workspace_id, identity) in self._identities
        }
        contacts: dict[str, Contact] = {}
        for row in found.values():
            contact = await self._surviving(row.contact_id)
            contacts[contact.id] = contact

        sender_row = found.get(_key(workspace_id, sender))
        if sender_row is not None:
            survivor = await self._surviving(sender_row.contact_id)
        elif contacts:
            survivor = next(iter(contacts.values()))
        else:
            survivor = new_row(Contact, workspace_id=workspace_id, name=name)
            self._new_contacts.append(survivor)
            self._contacts[survivor.id] = survivor
        if name and not survivor.name:
            survivor.name = name
        for contact in contacts.values():
            if contact.id != survivor.id:
                await self.flush()
                await merge_contacts(
                    self._session, survivor, contact, actor_type="system", reason="verified identity link"
                )

        for identity in wanted:
            key = _key(workspace_id, identity)
            stored = self._identities.get(key)
            if stored is None:
                created = new_row(
                    Identity,
                    workspace_id=workspace_id,
                    contact_id=survivor.id,
                    kind=identity.kind,
                    value=identity.value,
                    scope=identity.scope,
                    verified=identity.verified,
                )
                self._new_identities.append(created)
                self._identities[key] = created
                self._absent.discard(key)
            elif stored.contact_id != survivor.id:
                stored.contact_id = survivor.id
        return survivor, self._identities[_key(workspace_id, sender)]

    async def _load_contacts(self, contact_ids: set[str]) -> None:
        """Load contacts and, following merges, the contacts they were merged into."""
        missing = contact_ids - self._contacts.keys()
        while missing:
            rows = (await self._session.exec(select(Contact).where(col(Contact.id).in_(list(missing))))).all()
            for row in rows:
                self._contacts[row.id] = row
            missing = {row.merged_into for row in rows if row.merged_into} - self._contacts.keys()

    async def _surviving(self, contact_id: str) -> Contact:
        await self._load_contacts({contact_id})
        contact = self._contacts.get(contact_id)
        while contact is not None and contact.merged_into:
            await self._load_contacts({contact.merged_into})
            contact = self._contacts.get(contact.merged_into)
        assert contact is not None, f"contact {contact_id} is missing"
        return contact


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
