"""One customer across channels: find the contact behind an identity, link what trusted sources assert."""

from __future__ import annotations

from sqlalchemy import or_, and_, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import AuditEntry, Contact, Conversation, Identity, utcnow
from normalizer import IdentityRef, normalize_identity

__all__ = ["merge_contacts", "resolve_contact"]


async def resolve_contact(
    session: AsyncSession,
    workspace_id: str,
    sender: IdentityRef,
    linked: tuple[IdentityRef, ...] = (),
    name: str | None = None,
) -> tuple[Contact, Identity]:
    """The contact and identity row of `sender`, created when new.

    Verified linked identities (e.g. a unionid asserted by the channel) that already belong to
    another contact merge the two, so one person has one contact.
    """
    sender = normalize_identity(sender)
    verified_links = [normalize_identity(identity) for identity in linked if identity.verified]
    wanted = [sender, *verified_links]
    found = await _identities(session, workspace_id, wanted)
    sender_row = found.get(_key(sender))
    contacts: dict[str, Contact] = {}
    for row in found.values():
        contact = await _surviving_contact(session, row.contact_id)
        contacts[contact.id] = contact

    if sender_row is not None:
        survivor = contacts[(await _surviving_contact(session, sender_row.contact_id)).id]
    elif contacts:
        survivor = next(iter(contacts.values()))
    else:
        survivor = Contact(workspace_id=workspace_id, name=name)
        session.add(survivor)
        await session.flush()
    if name and not survivor.name:
        survivor.name = name
    for contact in contacts.values():
        if contact.id != survivor.id:
            await merge_contacts(session, survivor, contact, actor_type="system", reason="verified identity link")

    for identity in wanted:
        row = found.get(_key(identity))
        if row is None:
            row = Identity(
                workspace_id=workspace_id,
                contact_id=survivor.id,
                kind=identity.kind,
                value=identity.value,
                scope=identity.scope,
                verified=identity.verified,
            )
            session.add(row)
            found[_key(identity)] = row
        elif row.contact_id != survivor.id:
            row.contact_id = survivor.id
    await session.flush()
    return survivor, found[_key(sender)]


async def merge_contacts(
    session: AsyncSession, survivor: Contact, merged: Contact, *, actor_type: str, reason: str, actor_id: str | None = None
) -> None:
    """Move identities and conversations to `survivor`; `merged` stays as a tombstone, audited."""
    moved_identities = (
        await session.exec(select(Identity.id).where(Identity.contact_id == merged.id))
    ).all()
    moved_conversations = (
        await session.exec(select(Conversation.id).where(Conversation.contact_id == merged.id))
    ).all()
    await session.execute(update(Identity).where(Identity.contact_id == merged.id).values(contact_id=survivor.id))
    await session.execute(
        update(Conversation).where(Conversation.contact_id == merged.id).values(contact_id=survivor.id)
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


def _key(identity: IdentityRef | Identity) -> tuple[str, str, str]:
    return (identity.kind, identity.scope, identity.value)


async def _identities(session: AsyncSession, workspace_id: str, wanted: list[IdentityRef]) -> dict:
    conditions = [
        and_(Identity.kind == identity.kind, Identity.scope == identity.scope, Identity.value == identity.value)
        for identity in wanted
    ]
    rows = (await session.exec(select(Identity).where(Identity.workspace_id == workspace_id, or_(*conditions)))).all()
    return {_key(row): row for row in rows}


async def _surviving_contact(session: AsyncSession, contact_id: str) -> Contact:
    contact = await session.get(Contact, contact_id)
    while contact is not None and contact.merged_into:
        contact = await session.get(Contact, contact.merged_into)
    assert contact is not None, f"contact {contact_id} is missing"
    return contact
