"""CSV import of contacts with their identities, in the columns the export writes.

Each row is checked on its own: a bad row is reported with its line and reason and the good rows are imported.
A row whose `id` names a live contact of the workspace updates it; any other row creates a contact. An identity
that already belongs to another contact refuses its row: an import never merges two customers by itself.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Contact, Identity, utcnow
from normalizer import IdentityRef, InvalidIdentity, fold_text, normalize_identity

__all__ = [
    "EXPORT_COLUMNS",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ROWS",
    "FileRefused",
    "ImportedIdentity",
    "ImportedRow",
    "RowRefused",
    "import_rows",
    "read_rows",
    "spreadsheet_safe",
    "spreadsheet_text",
]

EXPORT_COLUMNS = ("id", "name", "vip_level", "tags", "identities", "attributes", "notes", "created_at")
REQUIRED_COLUMNS = ("identities",)
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
MAX_IDENTITIES_PER_ROW = 50
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A customer's own text opened in a spreadsheet is never run as a formula (`=HYPERLINK(...)` as a name)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def spreadsheet_text(cell: str) -> str:
    """The inverse of `spreadsheet_safe`, so an exported file imports back exactly."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


class FileRefused(ValueError):
    """The file as a whole cannot be read (not CSV, no header, no `identities` column, too many rows)."""


class RowRefused(ValueError):
    """One row cannot be imported; the others still are."""


class ImportedIdentity(msgspec.Struct, forbid_unknown_fields=False):
    kind: str
    value: str
    scope: str = ""
    verified: bool = False


@dataclass(frozen=True, slots=True)
class ImportedRow:
    line: int
    """The file line the row starts on (the header is line 1)."""
    fields: dict[str, Any]
    """`name`, `vip_level`, `tags`, `attributes`, `notes` given in the row (empty cells left out)."""
    identities: list[ImportedIdentity]
    contact_id: str


def read_rows(text: str) -> tuple[list[ImportedRow], list[tuple[int, str]]]:
    """The rows of the file, and (line, reason) of those that cannot be read."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise FileRefused(f"line 1: not CSV ({error})") from None
    if not header:
        raise FileRefused("the file is empty: the first line names the columns")
    unknown = sorted(set(header) - set(EXPORT_COLUMNS))
    if unknown:
        raise FileRefused(
            f"line 1: unknown column(s) {', '.join(unknown)}; columns are {', '.join(EXPORT_COLUMNS)}"
        )
    if missing := [column for column in REQUIRED_COLUMNS if column not in header]:
        raise FileRefused(f"line 1: missing column(s) {', '.join(missing)}")
    rows: list[ImportedRow] = []
    refused: list[tuple[int, str]] = []
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise FileRefused(f"line {line}: not CSV ({error})") from None
        if len(rows) + len(refused) >= MAX_IMPORT_ROWS:
            raise FileRefused(f"more than {MAX_IMPORT_ROWS} rows: split the file")
        try:
            rows.append(_row(line, record))
        except RowRefused as error:
            refused.append((line, str(error)))
    return rows, refused


def _row(line: int, record: dict[str | None, Any]) -> ImportedRow:
    if record.get(None):
        raise RowRefused("more cells than columns")
    cells = {key: spreadsheet_text(value or "") for key, value in record.items() if key is not None}
    fields: dict[str, Any] = {}
    if cells.get("name"):
        fields["name"] = cells["name"]
    if cells.get("notes"):
        fields["notes"] = cells["notes"]
    if cells.get("tags"):
        fields["tags"] = [tag for tag in cells["tags"].splitlines() if tag.strip()]
    if cells.get("vip_level"):
        try:
            fields["vip_level"] = int(cells["vip_level"])
        except ValueError:
            raise RowRefused(f"vip_level {cells['vip_level']!r} is not a whole number") from None
    if cells.get("attributes"):
        fields["attributes"] = _json_cell("attributes", cells["attributes"], dict[str, Any])
    identities = _json_cell("identities", cells.get("identities") or "[]", list[ImportedIdentity])
    if not identities:
        raise RowRefused(
            'no identities: give at least one, e.g. [{"kind": "email", "value": "li@example.com"}]'
        )
    if len(identities) > MAX_IDENTITIES_PER_ROW:
        raise RowRefused(f"more than {MAX_IDENTITIES_PER_ROW} identities")
    return ImportedRow(line, fields, identities, cells.get("id", "").strip())


def _json_cell(column: str, cell: str, shape: Any) -> Any:
    try:
        return msgspec.json.decode(cell.encode(), type=shape)
    except msgspec.DecodeError as error:
        raise RowRefused(f"{column}: {error}") from None


async def import_rows(
    session: AsyncSession, workspace_id: str, region: str, rows: list[ImportedRow], apply_fields: Any
) -> tuple[int, int, list[tuple[int, str]]]:
    """Import each row in its own savepoint; (created, updated, (line, reason) of the rows refused).

    `apply_fields(contact, fields)` validates and applies the row's profile as a PATCH would (raising
    RowRefused), so an import accepts exactly what the API accepts.
    """
    created = updated = 0
    refused: list[tuple[int, str]] = []
    for row in rows:
        try:
            identities = [_identity(identity, region) for identity in row.identities]
            async with session.begin_nested():
                is_new = await _apply(session, workspace_id, row, identities, apply_fields)
        except RowRefused as error:
            refused.append((row.line, str(error)))
            continue
        except IntegrityError:
            refused.append((row.line, "an identity of the row was created by another request meanwhile"))
            continue
        created += is_new
        updated += not is_new
    return created, updated, refused


def _identity(identity: ImportedIdentity, region: str) -> IdentityRef:
    try:
        return normalize_identity(
            IdentityRef(
                fold_text(identity.kind), identity.value, fold_text(identity.scope), identity.verified
            ),
            default_region=region,
        )
    except InvalidIdentity as error:
        raise RowRefused(f"identity {identity.kind} {identity.value!r}: {error}") from None


async def _apply(
    session: AsyncSession,
    workspace_id: str,
    row: ImportedRow,
    identities: list[IdentityRef],
    apply_fields: Any,
) -> bool:
    contact = None
    if row.contact_id:
        contact = (
            await session.exec(
                select(Contact).where(
                    Contact.id == row.contact_id,
                    Contact.workspace_id == workspace_id,
                    col(Contact.merged_into).is_(None),
                    col(Contact.erased_at).is_(None),
                )
            )
        ).first()
    is_new = contact is None
    if contact is None:
        contact = Contact(workspace_id=workspace_id)
        session.add(contact)
    apply_fields(contact, row.fields)
    contact.updated_at = utcnow()
    await session.flush()
    for identity in identities:
        found = (
            await session.exec(
                select(Identity).where(
                    Identity.workspace_id == workspace_id,
                    Identity.kind == identity.kind,
                    Identity.scope == identity.scope,
                    Identity.value == identity.value,
                )
            )
        ).first()
        if found is None:
            session.add(
                Identity(
                    workspace_id=workspace_id,
                    contact_id=contact.id,
                    kind=identity.kind,
                    value=identity.value,
                    scope=identity.scope,
                    verified=identity.verified,
                )
            )
        elif found.contact_id != contact.id:
            raise RowRefused(
                f"identity {identity.kind} {identity.value!r} belongs to contact {found.contact_id} "
                "(merge the two instead)"
            )
    await session.flush()
    return is_new
