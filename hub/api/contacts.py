"""Contacts: one customer across channels. Read, search and edit them, merge two (with a dry run), undo a merge,
import and export them as CSV, erase one on request.

A merged contact's id keeps answering: 410 `contact_merged`, with the surviving contact's id in `errors` and in
the Location header, so a CRM holding the old id can follow it. An erased one answers 410 `contact_erased`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import String, cast, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import contact_import, customers, events, journey, lifecycle
from hub.api.conversations import encode_cursor, newest_activity_first
from hub.api.dependencies import workspace_row
from hub.api.paging import id_page
from hub.auth import Caller
from hub.contact_import import EXPORT_COLUMNS, spreadsheet_safe
from hub.db import like_literal
from hub.erasure import conversations_of
from hub.erasure import erase_contact as erasure_of
from hub.errors import ApiError, error_responses
from hub.fields import SINGLE_LINE, CursorQuery, Id, IdPath, Name
from hub.models import (
    AuditEntry,
    Contact,
    Conversation,
    Identity,
    Inbox,
    MergeSuggestion,
    Ticket,
    Workspace,
    utcnow,
)
from hub.runtime import Hub
from hub.search import contacts_matching
from hub.tickets import ticket_view
from hub.views import (
    ContactDetail,
    ContactIdentityView,
    ContactPage,
    ContactSummary,
    ConversationPage,
    MergePreview,
    MergeSuggestionView,
    MergeUndone,
    TicketPage,
)
from normalizer import IdentityKind, IdentityRef, InvalidIdentity, fold_text, normalize_identity
from normalizer.identities import MAX_EXTERNAL_ID_LENGTH

__all__ = ["ContactController"]

PROFILE_FIELDS = ("name", "attributes", "tags", "vip_level", "notes")
MAX_TAGS = 50
MAX_ATTRIBUTES = 100
TIMELINE_PAGE = 25

Tag = Annotated[str, Meta(min_length=1, max_length=50, pattern=SINGLE_LINE)]
AttributeKey = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
AttributeValue = str | int | float | bool | None


class ContactChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are. In `attributes`, a key set to null is removed; others are set."""

    name: Name | UnsetType | None = UNSET
    attributes: (
        Annotated[dict[AttributeKey, Annotated[AttributeValue, Meta()]], Meta(max_length=MAX_ATTRIBUTES)]
        | UnsetType
    ) = UNSET
    tags: Annotated[list[Tag], Meta(max_length=MAX_TAGS)] | UnsetType = UNSET
    vip_level: Annotated[int, Meta(ge=0, le=10)] | UnsetType = UNSET
    notes: Annotated[str, Meta(max_length=10000)] | UnsetType = UNSET


class RefusedRow(msgspec.Struct):
    line: int
    """The file line the row starts on; the header is line 1."""
    reason: str


class ContactImport(msgspec.Struct):
    created: int
    updated: int
    refused: list[RefusedRow]
    """The rows not imported, by line, with the reason; every other row was."""


class ContactErased(msgspec.Struct):
    """What was erased, in anonymous counts (the audit entry keeps the same)."""

    contact_ids: list[str]
    """The contact and the contacts that had been merged into it."""
    conversations: int
    """Conversations kept, emptied of their messages' content, for reports."""
    messages: int
    files: int
    identities: int
    tickets: int
    conversations_closed: int
    """Conversations that were still open: resolved without a word to the customer, out of the queue."""
    audit_id: str


class IdentityClaim(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["email", "phone"]
    value: Annotated[str, Meta(min_length=1, max_length=320, pattern=SINGLE_LINE)]


class ContactUpsert(ContactChanges, forbid_unknown_fields=True):
    """The profile as in `PATCH /contacts/{id}`, and identities your system vouches for."""

    identities: Annotated[list[IdentityClaim], Meta(max_length=20)] = []
    """Emails and phones the customer holds, as your system confirmed them: trusted as verified."""


ExternalIdPath = Annotated[
    str,
    PathParameter(
        pattern=rf"^[A-Za-z0-9._~:@+-]{{1,{MAX_EXTERNAL_ID_LENGTH}}}$",
        max_length=MAX_EXTERNAL_ID_LENGTH,
        description="The customer's id in your own system (a CRM record id).",
    ),
]


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True):
    contact_id: Id
    """The contact merged away into the one in the path."""
    dry_run: bool = False
    """Answer what would move and which values would win, and change nothing."""


def apply_changes(contact: Contact, data: ContactChanges) -> None:
    """What a PATCH (or an imported row) sets; fields left out stay as they are."""
    _changed_profile(customers.Profile.of(contact), data).apply_to(contact)
    contact.updated_at = utcnow()


def _imported_profile(contact: Contact, fields: dict[str, Any]) -> None:
    """An imported row's profile, checked as a PATCH body is."""
    try:
        apply_changes(contact, msgspec.convert(fields, ContactChanges))
    except msgspec.ValidationError as error:
        raise contact_import.RowRefused(str(error)) from None
    except ApiError as error:
        raise contact_import.RowRefused(error.detail) from None


async def load_contact(session: AsyncSession, caller: Caller, contact_id: str) -> Contact:
    """The caller's contact; 404 for another workspace's, 410 pointing at the survivor for a merged one, 410
    `contact_erased` for an erased one (a tombstone merged into an erased contact was erased with it)."""
    contact = await workspace_row(
        session, caller, Contact, contact_id, code="contact_not_found", noun="contact"
    )
    if contact.erased_at is not None:
        raise ApiError(410, "contact_erased", f"Contact {contact_id} was erased on request.")
    if contact.merged_into is not None:
        survivor = contact.merged_into
        while (following := await session.get(Contact, survivor)) is not None and following.merged_into:
            survivor = following.merged_into
        raise ApiError(
            410,
            "contact_merged",
            f"Contact {contact_id} was merged into contact {survivor}.",
            extra=[{"field": "merged_into", "message": survivor}],
            headers={"Location": f"/api/v1/contacts/{survivor}"},
        )
    return contact


async def _identities(session: AsyncSession, contact_ids: list[str]) -> dict[str, list[ContactIdentityView]]:
    rows = (
        await session.exec(
            select(Identity)
            .where(col(Identity.contact_id).in_(contact_ids))
            .order_by(col(Identity.created_at))
        )
    ).all()
    found: dict[str, list[ContactIdentityView]] = {contact_id: [] for contact_id in contact_ids}
    for row in rows:
        found[row.contact_id].append(events.identity_view(row))
    return found


async def _erased(hub: Hub, admin: Caller, session: AsyncSession, contact: Contact) -> ContactErased:
    erased = await erasure_of(
        session,
        contact,
        now=hub.now(),
        file_id_of=hub.attachments.file_id,
        actor_type=_actor_type(admin),
        actor_id=admin.agent_id,
    )
    await session.commit()
    await lifecycle.announce(hub, admin.workspace_id, erased.published, erased.closed)
    return ContactErased(**asdict(erased.erasure), audit_id=erased.audit.id)


def _summary(contact: Contact, identities: list[ContactIdentityView]) -> ContactSummary:
    return ContactSummary(
        id=contact.id,
        name=contact.name,
        tags=contact.tags,
        vip_level=contact.vip_level,
        identities=identities,
        created_at=contact.created_at,
    )


async def _timeline(
    session: AsyncSession, contact: Contact, cursor: str | None, limit: int
) -> ConversationPage:
    """Every conversation of the contact on every channel, most recent activity first."""
    statement = select(Conversation).where(
        Conversation.workspace_id == contact.workspace_id, Conversation.contact_id == contact.id
    )
    rows = (await session.exec(newest_activity_first(statement, cursor).limit(limit + 1))).all()
    page = rows[:limit]
    return ConversationPage(
        items=[events.conversation_view(row) for row in page],
        next_cursor=encode_cursor(page[-1]) if len(rows) > limit else None,
    )


def _preview(plan: customers.MergePlan, *, dry_run: bool, audit_id: str | None) -> MergePreview:
    return MergePreview(
        dry_run=dry_run,
        surviving_contact_id=plan.survivor_id,
        merged_contact_id=plan.merged_id,
        identity_ids=plan.identity_ids,
        conversation_ids=plan.conversation_ids,
        ticket_ids=plan.ticket_ids,
        name=plan.profile.name,
        attributes=plan.profile.attributes,
        overridden_attributes=plan.dropped_attributes,
        tags=plan.profile.tags,
        vip_level=plan.profile.vip_level,
        audit_id=audit_id,
    )


def contacts_csv(contacts: list[Contact], identities: dict[str, list[ContactIdentityView]]) -> str:
    """One row per contact; identities and attributes as JSON cells, so every kind and value survives."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for contact in contacts:
        writer.writerow(
            [
                contact.id,
                spreadsheet_safe(contact.name or ""),
                contact.vip_level,
                spreadsheet_safe("\n".join(contact.tags)),
                msgspec.json.encode(identities[contact.id]).decode(),
                msgspec.json.encode(contact.attributes).decode(),
                spreadsheet_safe(contact.notes),
                contact.created_at.isoformat(),
            ]
        )
    return out.getvalue()


class ContactController(Controller):
    path = "/contacts"
    tags = ("contacts",)

    @get("/", responses=error_responses(400, 401))
    async def search_contacts(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        q: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=320,
                pattern=SINGLE_LINE,
                description="A name (any part), or any identity in any spelling: a phone in any format, an "
                "email in any case.",
            ),
        ] = None,
        tag: Annotated[str | None, QueryParameter(min_length=1, max_length=50, pattern=SINGLE_LINE)] = None,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> ContactPage:
        """Contacts of the workspace (merged ones left out), newest first; pass `next_cursor` back for more."""
        statement = select(Contact).where(
            Contact.workspace_id == caller.workspace_id,
            col(Contact.merged_into).is_(None),
            col(Contact.erased_at).is_(None),
        )
        if q:
            statement = statement.where(
                col(Contact.id).in_(await contacts_matching(session, caller.workspace_id, q))
            )
        if tag:
            quoted = msgspec.json.encode(tag).decode()
            statement = statement.where(
                cast(col(Contact.tags), String).like(f"%{like_literal(quoted)}%", escape="\\")
            )
        page, next_cursor = await id_page(
            session, statement, col(Contact.id), cursor, limit, newest_first=True
        )
        identities = await _identities(session, [row.id for row in page])
        return ContactPage(items=[_summary(row, identities[row.id]) for row in page], next_cursor=next_cursor)

    @get("/export", media_type=MediaType.TEXT, responses=error_responses(401))
    async def export_contacts(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        """Every live contact of the workspace with its identities, as CSV (UTF-8)."""
        rows = list(
            (
                await session.exec(
                    select(Contact)
                    .where(
                        Contact.workspace_id == caller.workspace_id,
                        col(Contact.merged_into).is_(None),
                        col(Contact.erased_at).is_(None),
                    )
                    .order_by(col(Contact.id))
                )
            ).all()
        )
        identities = await _identities(session, [row.id for row in rows])
        return Response(
            contacts_csv(rows, identities),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
        )

    @get("/{contact_id:str}", responses=error_responses(400, 401, 404, 410))
    async def get_contact(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], contact_id: IdPath
    ) -> ContactDetail:
        """The whole customer: identities on every channel, profile, merge suggestions, first page of the timeline."""
        contact = await load_contact(session, caller, contact_id)
        return await _detail(session, contact)

    @get("/{contact_id:str}/conversations", responses=error_responses(400, 401, 404, 410))
    async def contact_conversations(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        contact_id: IdPath,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = TIMELINE_PAGE,
    ) -> ConversationPage:
        """The contact's conversations on every channel, most recent activity first."""
        contact = await load_contact(session, caller, contact_id)
        return await _timeline(session, contact, cursor, limit)

    @patch("/{contact_id:str}", responses=error_responses(400, 401, 404, 410, 413))
    async def update_contact(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        contact_id: IdPath,
        data: JSONBody[ContactChanges],
    ) -> ContactDetail:
        """Edit name, attributes, tags, VIP level and notes; an audit entry records what changed."""
        contact = await load_contact(session, caller, contact_id)
        before = customers.Profile.of(contact)
        after = _changed_profile(before, data)
        after.apply_to(contact)
        contact.updated_at = utcnow()
        _audit_update(session, caller, contact, before, data)
        changed = _changed_fields(before, after)
        if changed:
            await _record_updated(session, caller, contact, changed)
        await session.commit()
        return await _detail(session, contact)

    @post(
        "/import",
        status_code=200,
        request_max_body_size=contact_import.MAX_IMPORT_BYTES,
        responses=error_responses(400, 401, 413, 422),
    )
    async def import_contacts(
        self, request: Request, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession]
    ) -> ContactImport:
        """The body is a CSV file (UTF-8) in the export's columns; only `identities` is required. A row whose
        `id` names a live contact updates it, any other row creates one. Bad rows are answered in `refused` by
        line with the reason, and the good rows are imported; an identity of another contact refuses its row."""
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_encoding", "The file must be UTF-8.") from None
        try:
            rows, unreadable = contact_import.read_rows(text)
        except contact_import.FileRefused as error:
            raise ApiError(
                422, "invalid_file", f"{error}.", extra=[{"field": "body", "message": str(error)}]
            ) from None
        workspace = await session.get_one(Workspace, caller.workspace_id)
        created, updated, refused = await contact_import.import_rows(
            session, caller.workspace_id, workspace.default_region, rows, _imported_profile
        )
        session.add(
            AuditEntry(
                workspace_id=caller.workspace_id,
                actor_type=_actor_type(caller),
                actor_id=caller.agent_id,
                action="contacts.imported",
                subject_type="workspace",
                subject_id=caller.workspace_id,
                details={"created": created, "updated": updated, "refused": len(unreadable) + len(refused)},
            )
        )
        await session.commit()
        return ContactImport(
            created=created,
            updated=updated,
            refused=[
                RefusedRow(line=line, reason=reason) for line, reason in sorted([*unreadable, *refused])
            ],
        )

    @post("/{contact_id:str}/erase", status_code=200, responses=error_responses(400, 401, 403, 404, 410))
    async def erase_contact(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        contact_id: IdPath,
    ) -> ContactErased:
        """Erase a customer on request (admins): name, profile, identities' values, every message's content and
        attachment, raw deliveries and events about them. Conversations and emptied message rows stay as
        anonymous counts for reports. Irreversible; audited. The contact then answers 410 `contact_erased`."""
        return await _erased(hub, admin, session, await load_contact(session, admin, contact_id))

    @delete(
        "/{contact_id:str}",
        status_code=200,
        responses=error_responses(400, 401, 403, 404, 409, 410),
    )
    async def delete_contact(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        contact_id: IdPath,
        erase: Annotated[
            bool,
            QueryParameter(
                description="Also erase the content of the customer's conversations (required when they have any)."
            ),
        ] = False,
    ) -> ContactErased:
        """Delete a customer (admins) by erasing them, as `POST .../erase` does: the conversations stay as
        anonymous counts. A customer with conversations answers 409 `contact_has_conversations` unless
        `erase=true` confirms that their messages' content goes too. The contact then answers 410
        `contact_erased`."""
        contact = await load_contact(session, admin, contact_id)
        if not erase and (held := await conversations_of(session, contact)):
            raise ApiError(
                409,
                "contact_has_conversations",
                f"Contact {contact_id} has {held} conversation(s); pass erase=true to erase the customer with "
                "their messages' content (the conversations stay as anonymous counts).",
            )
        return await _erased(hub, admin, session, contact)

    @get("/by_external_id/{external_id:str}", responses=error_responses(400, 401, 404))
    async def get_contact_by_external_id(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        external_id: ExternalIdPath,
    ) -> ContactDetail:
        """The contact your own system (a CRM) knows by `external_id`, as `PUT` on this path stored it."""
        identity = (
            await session.exec(
                select(Identity).where(
                    Identity.workspace_id == caller.workspace_id,
                    Identity.kind == IdentityKind.EXTERNAL,
                    Identity.scope == "",
                    Identity.value == _external_ref(external_id).value,
                )
            )
        ).first()
        if identity is None:
            raise ApiError(
                404, "contact_not_found", f"No contact with external id {external_id} in your workspace."
            )
        contact = await session.get_one(Contact, identity.contact_id)
        return await _detail(session, contact)

    @put(
        "/by_external_id/{external_id:str}",
        responses={
            201: ResponseSpec(ContactDetail, description="The contact was created"),
            **error_responses(400, 401, 404, 413, 422),
        },
    )
    async def upsert_contact_by_external_id(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        external_id: ExternalIdPath,
        data: JSONBody[ContactUpsert],
    ) -> Response[ContactDetail]:
        """Create or update the contact your own system (a CRM) knows by `external_id`: 201 when created, 200 when
        it existed. `identities` are trusted as the business's word (verified): an email or phone another contact
        holds merges that contact into this one, as a verified identity does on every channel."""
        workspace = await session.get_one(Workspace, caller.workspace_id)
        try:
            claimed = [
                normalize_identity(
                    IdentityRef(claim.kind, claim.value), default_region=workspace.default_region
                )
                for claim in data.identities
            ]
        except InvalidIdentity as error:
            raise ApiError(
                422, "invalid_identity", str(error), extra=[{"field": "identities", "message": str(error)}]
            ) from None
        synced = await customers.sync_external(
            session,
            caller.workspace_id,
            _external_ref(external_id),
            claimed,
            _changed_profile(customers.Profile.empty(), data),
            region=workspace.default_region,
            actor_type=_actor_type(caller),
        )
        contact = synced.contact
        if not synced.created:
            before = customers.Profile.of(contact)
            after = _changed_profile(before, data)
            after.apply_to(contact)
            contact.updated_at = utcnow()
            _audit_update(session, caller, contact, before, data)
            changed = _changed_fields(before, after) + (["identities"] if synced.identities_joined else [])
            if changed:
                await _record_updated(session, caller, contact, changed)
        await session.commit()
        return Response(await _detail(session, contact), status_code=201 if synced.created else 200)

    @post("/{contact_id:str}/merge", status_code=200, responses=error_responses(400, 401, 404, 410, 413, 422))
    async def merge(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        contact_id: IdPath,
        data: JSONBody[MergeRequest],
    ) -> MergePreview:
        """Merge `contact_id` of the body into this contact; with `dry_run` only say what would move and win."""
        survivor = await load_contact(session, caller, contact_id)
        if data.contact_id == survivor.id:
            raise ApiError(422, "same_contact", "A contact cannot be merged into itself.")
        try:
            merged = await load_contact(session, caller, data.contact_id)
        except ApiError as error:
            raise ApiError(422, error.code, error.detail) from None
        if data.dry_run:
            return _preview(
                await customers.plan_merge(session, survivor, merged), dry_run=True, audit_id=None
            )
        plan = await customers.plan_merge(session, survivor, merged)
        audit = await customers.merge_contacts(
            session,
            survivor,
            merged,
            actor_type=_actor_type(caller),
            actor_id=caller.agent_id,
            reason="agent",
        )
        await session.commit()
        return _preview(plan, dry_run=False, audit_id=audit.id)

    @post("/merges/{audit_id:str}/undo", status_code=200, responses=error_responses(400, 401, 404, 409))
    async def undo_merge(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], audit_id: IdPath
    ) -> MergeUndone:
        """Undo a merge from its audit entry: both contacts get back exactly what they had; what arrived since on
        the merged contact's identities goes back with them."""
        audit = (
            await session.exec(
                select(AuditEntry).where(
                    AuditEntry.id == audit_id,
                    AuditEntry.workspace_id == caller.workspace_id,
                    AuditEntry.action == customers.MERGED,
                )
            )
        ).first()
        if audit is None:
            raise ApiError(404, "merge_not_found", f"No contact merge {audit_id} in your workspace.")
        try:
            survivor, restored = await customers.undo_merge(
                session, audit, actor_type=_actor_type(caller), actor_id=caller.agent_id
            )
        except customers.MergeNotUndoable as error:
            raise ApiError(409, "merge_not_undoable", str(error)) from None
        await session.commit()
        return MergeUndone(surviving_contact_id=survivor.id, restored_contact_id=restored.id)


def _actor_type(caller: Caller) -> str:
    return "agent" if caller.agent is not None else "api_token"


def _external_ref(external_id: str) -> IdentityRef:
    return normalize_identity(IdentityRef(IdentityKind.EXTERNAL, external_id))


def _changed_profile(before: customers.Profile, data: ContactChanges) -> customers.Profile:
    """The profile after the fields `data` sets; in `attributes`, a key set to null is removed."""
    attributes = dict(before.attributes)
    if not isinstance(data.attributes, UnsetType):
        for key, value in data.attributes.items():
            if value is None:
                attributes.pop(key, None)
            else:
                attributes[key] = value
        if len(attributes) > MAX_ATTRIBUTES:
            raise ApiError(
                422, "too_many_attributes", f"A contact keeps at most {MAX_ATTRIBUTES} attributes."
            )
    return customers.Profile(
        name=before.name if isinstance(data.name, UnsetType) else fold_text(data.name or "") or None,
        attributes=attributes,
        tags=(
            before.tags
            if isinstance(data.tags, UnsetType)
            else list(dict.fromkeys(fold_text(tag) for tag in data.tags if fold_text(tag)))
        ),
        vip_level=before.vip_level if isinstance(data.vip_level, UnsetType) else data.vip_level,
        notes=before.notes if isinstance(data.notes, UnsetType) else data.notes,
    )


def _changed_fields(before: customers.Profile, after: customers.Profile) -> list[str]:
    return [name for name in PROFILE_FIELDS if getattr(before, name) != getattr(after, name)]


def _audit_update(
    session: AsyncSession, caller: Caller, contact: Contact, before: customers.Profile, data: ContactChanges
) -> None:
    session.add(
        AuditEntry(
            workspace_id=contact.workspace_id,
            actor_type=_actor_type(caller),
            actor_id=caller.agent_id,
            action=customers.UPDATED,
            subject_type="contact",
            subject_id=contact.id,
            details={"before": msgspec.to_builtins(before), "changed": sorted(msgspec.to_builtins(data))},
        )
    )


async def _record_updated(
    session: AsyncSession, caller: Caller, contact: Contact, changed: list[str]
) -> None:
    """`contact.updated`, only when something changed: a CRM writing back what it received starts no echo."""
    identities = await _identities(session, [contact.id])
    events.record(
        session,
        contact.workspace_id,
        customers.UPDATED,
        contact.id,
        {
            "contact": events.contact_record(contact, identities[contact.id]),
            "changed": changed,
            "actor_type": _actor_type(caller),
        },
    )


async def _detail(session: AsyncSession, contact: Contact) -> ContactDetail:
    identities = await _identities(session, [contact.id])
    seen = (
        await session.exec(
            select(func.min(Conversation.created_at), func.max(Conversation.last_inbound_at)).where(
                Conversation.workspace_id == contact.workspace_id, Conversation.contact_id == contact.id
            )
        )
    ).one()
    first_seen: datetime | None = seen[0]
    pages = await journey.recent_pages(session, contact)
    suggestions = (
        await session.exec(
            select(MergeSuggestion)
            .where(
                MergeSuggestion.workspace_id == contact.workspace_id,
                or_(
                    col(MergeSuggestion.contact_id) == contact.id,
                    col(MergeSuggestion.candidate_id) == contact.id,
                ),
            )
            .order_by(col(MergeSuggestion.created_at))
        )
    ).all()
    return ContactDetail(
        **msgspec.structs.asdict(events.contact_record(contact, identities[contact.id])),
        first_seen_at=contact.created_at if first_seen is None else first_seen,
        last_seen_at=seen[1],
        merge_suggestions=[
            MergeSuggestionView(
                id=row.id,
                contact_id=row.contact_id,
                candidate_id=row.candidate_id,
                kind=row.kind,
                value=row.value,
                created_at=row.created_at,
            )
            for row in suggestions
        ],
        conversations=await _timeline(session, contact, None, TIMELINE_PAGE),
        tickets=await _tickets(session, contact),
        current_page=pages[0] if pages else None,
        recent_pages=pages,
        time_zone=contact.time_zone,
        language=contact.language,
        first_channel=await _first_channel(session, contact),
    )


async def _first_channel(session: AsyncSession, contact: Contact) -> str | None:
    """The channel kind of the contact's first conversation: where the customer came from."""
    return (
        await session.exec(
            select(Inbox.kind)
            .join(Conversation, col(Conversation.inbox_id) == col(Inbox.id))
            .where(Conversation.workspace_id == contact.workspace_id, Conversation.contact_id == contact.id)
            .order_by(col(Conversation.created_at), col(Conversation.id))
            .limit(1)
        )
    ).first()


async def _tickets(session: AsyncSession, contact: Contact) -> TicketPage:
    """The contact's newest tickets, as the first page of `GET /tickets?contact_id=`."""
    rows = (
        await session.exec(
            select(Ticket)
            .where(Ticket.workspace_id == contact.workspace_id, Ticket.contact_id == contact.id)
            .order_by(col(Ticket.id).desc())
            .limit(TIMELINE_PAGE + 1)
        )
    ).all()
    page = rows[:TIMELINE_PAGE]
    return TicketPage(
        items=[ticket_view(row) for row in page],
        next_cursor=page[-1].id if len(rows) > TIMELINE_PAGE else None,
    )
