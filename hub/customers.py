"""One customer across channels: find the contact behind an identity, link what trusted sources assert."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors.routes import CustomerClaims
from hub import events
from hub.ids import new_id
from hub.models import (
    AuditEntry,
    Contact,
    Conversation,
    Identity,
    MergeSuggestion,
    PageView,
    Ticket,
    row_values,
    utcnow,
)
from normalizer import IdentityRef, normalize_identity

__all__ = [
    "CREATED",
    "MERGED",
    "MERGE_UNDONE",
    "UNMERGED",
    "UPDATED",
    "CustomerDirectory",
    "ExternalSync",
    "MergeNotUndoable",
    "MergePlan",
    "Profile",
    "identify",
    "merge_contacts",
    "merged_profile",
    "plan_merge",
    "sync_external",
    "undo_merge",
]

CREATED = "contact.created"
UPDATED = "contact.updated"
MERGED = "contact.merged"
MERGE_UNDONE = "contact.merge_undone"
UNMERGED = "contact.unmerged"
UNVERIFIED_CLAIMS = "unverified_claims"
"""The contact attribute holding what a visitor said of themselves without the business's signature."""

IdentityKey = tuple[str, str, str, str]
"""(workspace_id, kind, scope, value): an identity is unique per workspace."""


class CustomerDirectory:
    """The identities and contacts one transaction works with, loaded in bulk and kept current as it changes them.

    A batch of messages loads every sender's identity and contact in two queries (`load`); `resolve`
    then answers from memory, so a batch costs the same round trips whatever its size. New contacts and
    identities are kept as plain rows until `flush` inserts them, one statement per table, contacts first.
    """

    def __init__(self, session: AsyncSession, *, actor_type: str = "system") -> None:
        self._session = session
        self._actor_type = actor_type
        """Who the `contact.created` events name as creating the new contacts."""
        self._identities: dict[IdentityKey, Identity] = {}
        self._absent: set[IdentityKey] = set()
        self._contacts: dict[str, Contact] = {}
        self._new_contacts: dict[str, dict[str, Any]] = {}
        self._new_identities: dict[IdentityKey, dict[str, Any]] = {}

    async def flush(self) -> None:
        """Insert the contacts and identities created since the last flush, in foreign key order, and record a
        `contact.created` for each new contact."""
        created: list[Contact] = []
        if self._new_contacts:
            created = list(
                await self._session.scalars(
                    insert(Contact).returning(Contact), list(self._new_contacts.values())
                )
            )
            self._contacts |= {row.id: row for row in created}
            self._new_contacts.clear()
        new_identities: list[Identity] = []
        if self._new_identities:
            new_identities = list(
                await self._session.scalars(
                    insert(Identity).returning(Identity), list(self._new_identities.values())
                )
            )
            self._identities |= {_key(row.workspace_id, row): row for row in new_identities}
            self._new_identities.clear()
        if created:
            await _record_created(self._session, created, new_identities, self._actor_type)

    def owner(self, workspace_id: str, identity: IdentityRef) -> str | None:
        """The contact holding a normalised identity `load`ed here (before any merge it causes); None when new."""
        return self._contact_of(_key(workspace_id, identity))

    def created_here(self, contact_id: str) -> bool:
        """Whether `contact_id` is a contact this directory created and has not inserted yet."""
        return contact_id in self._new_contacts

    def describe_created(self, contact_id: str, profile: Profile) -> None:
        """The profile of a contact `created_here`, set before it is inserted so its `contact.created` holds it."""
        self._new_contacts[contact_id] |= asdict(profile)

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
        *,
        region: str,
    ) -> tuple[str, str]:
        """The ids of the contact and identity of `sender`, created when new (inserted by `flush`); phone
        numbers are read in the workspace's `region`.

        Verified linked identities (e.g. a cross-app id the channel asserts) that already belong to
        another contact merge the two, so one person has one contact.
        """
        sender = normalize_identity(sender, default_region=region)
        verified_links = [
            normalize_identity(identity, default_region=region) for identity in linked if identity.verified
        ]
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


async def _record_created(
    session: AsyncSession, contacts: list[Contact], identities: list[Identity], actor_type: str
) -> None:
    """One `contact.created` per contact, with the identities it was created with, in one INSERT."""
    by_contact: dict[str, list[Identity]] = defaultdict(list)
    for identity in identities:
        by_contact[identity.contact_id].append(identity)
    outbox = events.Outbox()
    for contact in contacts:
        outbox.record(
            contact.workspace_id,
            CREATED,
            contact.id,
            {
                "contact": events.contact_record(
                    contact, [events.identity_view(row) for row in by_contact[contact.id]]
                ),
                "actor_type": actor_type,
            },
        )
    await outbox.write(session)


@dataclass(frozen=True, slots=True)
class Profile:
    """What an agent or the business wrote about a contact: merged by `merged_profile`, restored by an undo."""

    name: str | None
    attributes: dict[str, Any]
    tags: list[str]
    vip_level: int
    notes: str

    @classmethod
    def empty(cls) -> Profile:
        return cls(None, {}, [], 0, "")

    @classmethod
    def of(cls, contact: Contact) -> Profile:
        return cls(
            contact.name, dict(contact.attributes), list(contact.tags), contact.vip_level, contact.notes
        )

    def apply_to(self, contact: Contact) -> None:
        contact.name = self.name
        contact.attributes = dict(self.attributes)
        contact.tags = list(self.tags)
        contact.vip_level = self.vip_level
        contact.notes = self.notes


def merged_profile(survivor: Profile, merged: Profile) -> tuple[Profile, dict[str, Any]]:
    """The surviving contact's profile after the merge, and the merged contact's attribute values it overrode.

    The survivor's values win; what only the merged contact had is added (tags appended, notes kept below).
    """
    dropped = {
        key: value
        for key, value in merged.attributes.items()
        if key in survivor.attributes and survivor.attributes[key] != value
    }
    notes = "\n\n".join(text for text in (survivor.notes, merged.notes) if text)
    return (
        Profile(
            name=survivor.name or merged.name,
            attributes=merged.attributes | survivor.attributes,
            tags=survivor.tags + [tag for tag in merged.tags if tag not in survivor.tags],
            vip_level=max(survivor.vip_level, merged.vip_level),
            notes=notes,
        ),
        dropped,
    )


@dataclass(frozen=True, slots=True)
class MergePlan:
    """What merging `merged_id` into `survivor_id` moves, and the survivor's profile afterwards."""

    survivor_id: str
    merged_id: str
    identity_ids: list[str]
    conversation_ids: list[str]
    ticket_ids: list[str]
    profile: Profile
    dropped_attributes: dict[str, Any]


async def plan_merge(session: AsyncSession, survivor: Contact, merged: Contact) -> MergePlan:
    """The dry run of `merge_contacts`: nothing is changed."""
    identity_ids = (await session.exec(select(Identity.id).where(Identity.contact_id == merged.id))).all()
    conversation_ids = (
        await session.exec(select(Conversation.id).where(Conversation.contact_id == merged.id))
    ).all()
    ticket_ids = (await session.exec(select(Ticket.id).where(Ticket.contact_id == merged.id))).all()
    profile, dropped = merged_profile(Profile.of(survivor), Profile.of(merged))
    return MergePlan(
        survivor.id, merged.id, list(identity_ids), list(conversation_ids), list(ticket_ids), profile, dropped
    )


async def merge_contacts(
    session: AsyncSession,
    survivor: Contact,
    merged: Contact,
    *,
    actor_type: str,
    reason: str,
    actor_id: str | None = None,
) -> AuditEntry:
    """Move identities, conversations, tickets, pages viewed and profile to `survivor`; `merged` stays as a
    tombstone pointing at it.

    The audit entry keeps both contacts' profiles as they were, which is what `undo_merge` restores, and the
    `contact.merged` event goes to the outbox in the same transaction.
    """
    plan = await plan_merge(session, survivor, merged)
    before = {"survivor": asdict(Profile.of(survivor)), "merged": asdict(Profile.of(merged))}
    await session.execute(
        update(Identity).where(col(Identity.contact_id) == merged.id).values(contact_id=survivor.id)
    )
    await session.execute(
        update(Conversation).where(col(Conversation.contact_id) == merged.id).values(contact_id=survivor.id)
    )
    await session.execute(
        update(Ticket).where(col(Ticket.contact_id) == merged.id).values(contact_id=survivor.id)
    )
    page_view_ids = list(
        (await session.exec(select(PageView.id).where(PageView.contact_id == merged.id))).all()
    )
    await session.execute(
        update(PageView).where(col(PageView.id).in_(page_view_ids)).values(contact_id=survivor.id)
    )
    await _drop_suggestions_between(session, survivor.id, merged.id)
    now = utcnow()
    plan.profile.apply_to(survivor)
    survivor.updated_at = now
    merged.merged_into = survivor.id
    merged.updated_at = now
    audit = AuditEntry(
        workspace_id=survivor.workspace_id,
        actor_type=actor_type,
        actor_id=actor_id,
        action=MERGED,
        subject_type="contact",
        subject_id=survivor.id,
        details={
            "merged_contact_id": merged.id,
            "reason": reason,
            "identity_ids": plan.identity_ids,
            "conversation_ids": plan.conversation_ids,
            "ticket_ids": plan.ticket_ids,
            "page_view_ids": page_view_ids,
            "dropped_attributes": plan.dropped_attributes,
            "before": before,
        },
    )
    session.add(audit)
    events.record(
        session,
        survivor.workspace_id,
        MERGED,
        survivor.id,
        {
            "surviving_contact_id": survivor.id,
            "merged_contact_id": merged.id,
            "audit_id": audit.id,
            "reason": reason,
        },
    )
    return audit


async def identify(
    session: AsyncSession, workspace_id: str, region: str, visitor: IdentityRef, claims: CustomerClaims
) -> str:
    """Apply what the business's site says of its visitor; the id of the visitor's contact afterwards.

    Signed claims are verified identities: the visitor joins the contact they name (created when new) and the
    visitor's anonymous conversations move with it. Unsigned claims are kept as the visitor's unverified
    attributes; where one names another contact's identity, agents get a merge suggestion and nothing links.
    Raises normalizer.InvalidIdentity for a claimed phone or email that cannot be one.
    """
    claimed = [normalize_identity(identity, default_region=region) for identity in claims.identities]
    directory = CustomerDirectory(session)
    if claims.verified and claimed:
        contact_id, _ = await directory.resolve(
            workspace_id, claimed[0], linked=(*claimed[1:], visitor), name=claims.name, region=region
        )
        await directory.flush()
        for identity in claimed:
            directory.identity_row(workspace_id, identity).verified = True
        return contact_id
    contact_id, _ = await directory.resolve(workspace_id, visitor, name=claims.name, region=region)
    await directory.flush()
    if claimed:
        contact = await session.get_one(Contact, contact_id)
        unverified = dict(contact.attributes.get(UNVERIFIED_CLAIMS) or {})
        unverified.update({identity.kind: identity.value for identity in claimed})
        contact.attributes = {**contact.attributes, UNVERIFIED_CLAIMS: unverified}
        await _suggest_merges(session, workspace_id, contact_id, claimed)
    return contact_id


async def _suggest_merges(
    session: AsyncSession, workspace_id: str, contact_id: str, claimed: list[IdentityRef]
) -> None:
    """One suggestion per other contact holding a claimed identity, kept once however often it is claimed."""
    matches = (
        await session.exec(
            select(Identity).where(
                Identity.workspace_id == workspace_id,
                col(Identity.contact_id) != contact_id,
                or_(
                    *(
                        and_(
                            col(Identity.kind) == identity.kind,
                            col(Identity.scope) == identity.scope,
                            col(Identity.value) == identity.value,
                        )
                        for identity in claimed
                    )
                ),
            )
        )
    ).all()
    for match in matches:
        known = (
            await session.exec(
                select(MergeSuggestion.id).where(
                    MergeSuggestion.contact_id == contact_id, MergeSuggestion.candidate_id == match.contact_id
                )
            )
        ).first()
        if known is None:
            session.add(
                MergeSuggestion(
                    workspace_id=workspace_id,
                    contact_id=contact_id,
                    candidate_id=match.contact_id,
                    kind=match.kind,
                    value=match.value,
                )
            )
            await session.flush()


@dataclass(frozen=True, slots=True)
class ExternalSync:
    """What an upsert by external id did: the contact, whether it is new, whether identities moved to it."""

    contact: Contact
    created: bool
    identities_joined: bool


async def sync_external(
    session: AsyncSession,
    workspace_id: str,
    external: IdentityRef,
    identities: list[IdentityRef],
    new_profile: Profile,
    *,
    region: str,
    actor_type: str,
) -> ExternalSync:
    """The contact of the business's own id `external`, created with `new_profile` when unknown, joined by the
    normalised `identities` the business vouches for: one held by another contact merges that contact into this
    one, by the rule a verified identity link follows on every channel."""
    trusted = [
        IdentityRef(identity.kind, identity.value, identity.scope, verified=True)
        for identity in (external, *identities)
    ]
    directory = CustomerDirectory(session, actor_type=actor_type)
    await directory.load([(workspace_id, identity) for identity in trusted])
    owner = directory.owner(workspace_id, trusted[0])
    joined = any(directory.owner(workspace_id, identity) != owner for identity in trusted[1:])
    contact_id, _ = await directory.resolve(
        workspace_id, trusted[0], linked=tuple(trusted[1:]), region=region
    )
    created = directory.created_here(contact_id)
    if created:
        directory.describe_created(contact_id, new_profile)
    await directory.flush()
    for identity in trusted:
        directory.identity_row(workspace_id, identity).verified = True
    return ExternalSync(await session.get_one(Contact, contact_id), created, joined and not created)


class MergeNotUndoable(Exception):
    """The merge was undone already, or the surviving contact was merged away since (undo that merge first)."""


async def undo_merge(
    session: AsyncSession, audit: AuditEntry, *, actor_type: str, actor_id: str | None
) -> tuple[Contact, Contact]:
    """Restore the surviving contact's profile and give the merged contact back its identities and conversations
    (a tombstone keeps its own profile, so it has it back as it was).

    A conversation that arrived after the merge on one of the merged contact's identities goes back with that
    identity; what came in on the survivor's own identities stays. The pages the merged contact had viewed go
    back with it (those the survivor's bounded trail has not dropped since); later pages stay.
    """
    details = audit.details
    if "merged_contact_id" not in details:
        raise MergeNotUndoable("One of the contacts was erased since; there is nothing to give back.")
    survivor = await session.get_one(Contact, audit.subject_id)
    restored = await session.get_one(Contact, details["merged_contact_id"])
    if restored.merged_into != survivor.id or survivor.merged_into is not None:
        raise MergeNotUndoable(
            f"Contact {restored.id} is not merged into {survivor.id} now; undo later merges first."
        )
    identity_ids = details["identity_ids"]
    await session.execute(
        update(Identity)
        .where(col(Identity.id).in_(identity_ids), col(Identity.contact_id) == survivor.id)
        .values(contact_id=restored.id)
    )
    await session.execute(
        update(Conversation)
        .where(
            col(Conversation.contact_id) == survivor.id,
            or_(
                col(Conversation.id).in_(details["conversation_ids"]),
                col(Conversation.identity_id).in_(identity_ids),
            ),
        )
        .values(contact_id=restored.id)
    )
    await session.execute(
        update(Ticket)
        .where(
            col(Ticket.contact_id) == survivor.id,
            or_(
                col(Ticket.id).in_(details.get("ticket_ids", [])),
                col(Ticket.conversation_id).in_(
                    select(Conversation.id).where(Conversation.contact_id == restored.id)
                ),
            ),
        )
        .values(contact_id=restored.id)
    )
    await session.execute(
        update(PageView)
        .where(
            col(PageView.id).in_(details.get("page_view_ids", [])), col(PageView.contact_id) == survivor.id
        )
        .values(contact_id=restored.id)
    )
    Profile(**details["before"]["survivor"]).apply_to(survivor)
    now = utcnow()
    restored.merged_into = None
    survivor.updated_at = restored.updated_at = now
    session.add(
        AuditEntry(
            workspace_id=survivor.workspace_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=MERGE_UNDONE,
            subject_type="contact",
            subject_id=restored.id,
            details={"merge_audit_id": audit.id, "surviving_contact_id": survivor.id},
        )
    )
    events.record(
        session,
        survivor.workspace_id,
        UNMERGED,
        restored.id,
        {"surviving_contact_id": survivor.id, "restored_contact_id": restored.id, "merge_audit_id": audit.id},
    )
    return survivor, restored


async def _drop_suggestions_between(session: AsyncSession, first: str, second: str) -> None:
    """A suggestion to merge two contacts that are now one (either way round) has been answered."""
    await session.execute(
        delete(MergeSuggestion).where(
            or_(
                and_(col(MergeSuggestion.contact_id) == first, col(MergeSuggestion.candidate_id) == second),
                and_(col(MergeSuggestion.contact_id) == second, col(MergeSuggestion.candidate_id) == first),
            )
        )
    )


def _key(workspace_id: str, identity: IdentityRef | Identity) -> IdentityKey:
    return (workspace_id, identity.kind, identity.scope, identity.value)
