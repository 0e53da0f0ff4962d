"""Attachment storage in the database, so every web and worker process of a deployment serves the same files.

Customers' media (copied by a worker before the channel deletes it) and files agents upload for
their replies live here. A file is reached by an unguessable URL, because browsers load images
without the agent's bearer token.
"""

from __future__ import annotations

import mimetypes
import secrets
from pathlib import PurePosixPath

import httpx
from sqlmodel import select

from connectors.attachments import AttachmentContent, download
from connectors.base import PermanentSendError
from hub.db import Database
from hub.fields import mime_type_or_none
from hub.models import StoredFile

__all__ = ["ATTACHMENT_PATH", "AttachmentStore", "safe_file_name"]

ATTACHMENT_PATH = "/attachments"
MAX_NAME_LENGTH = 100


def safe_file_name(name: str | None, mime_type: str) -> str:
    """ASCII letters, digits, dots, dashes and underscores of the last part (safe in URLs and headers), with an
    extension from the type when none is left."""
    kept = "".join(
        char
        for char in PurePosixPath((name or "").replace("\\", "/")).name
        if char.isascii() and (char.isalnum() or char in "._-")
    ).lstrip(".")[:MAX_NAME_LENGTH]
    if not PurePosixPath(kept).suffix:
        kept = f"{kept or 'file'}{mimetypes.guess_extension(mime_type) or ''}"
    return kept


class AttachmentStore:
    def __init__(self, database: Database, public_url: str, http: httpx.AsyncClient) -> None:
        self._database = database
        self._prefix = f"{public_url}{ATTACHMENT_PATH}/"
        self._http = http

    async def save(
        self, workspace_id: str, content: bytes, filename: str | None, mime_type: str | None
    ) -> StoredFile:
        """`mime_type` as the sender declared it; one that is not `type/subtype` (it would break the download's
        headers) gives way to the file name's type, or application/octet-stream."""
        mime_type = (
            mime_type_or_none(mime_type)
            or mimetypes.guess_type(filename or "")[0]
            or "application/octet-stream"
        )
        stored = StoredFile(
            id=secrets.token_urlsafe(24),
            workspace_id=workspace_id,
            name=safe_file_name(filename, mime_type),
            mime_type=mime_type,
            size=len(content),
            content=content,
        )
        async with self._database.session() as session:
            session.add(stored)
            await session.commit()
        return stored

    def url(self, stored: StoredFile) -> str:
        return f"{self._prefix}{stored.id}/{stored.name}"

    def holds(self, url: str) -> bool:
        """Whether `url` names a file of this store, which is read from the database and never fetched."""
        return url.startswith(self._prefix)

    def file_id(self, url: str) -> str | None:
        """The id of the stored file `url` names; None when it names none of this store's."""
        if not self.holds(url):
            return None
        return url[len(self._prefix) :].split("/", 1)[0] or None

    async def load(self, file_id: str) -> StoredFile | None:
        async with self._database.session() as session:
            return (await session.exec(select(StoredFile).where(StoredFile.id == file_id))).first()

    async def read(self, url: str, max_bytes: int) -> AttachmentContent:
        """Our own copy without a network round trip; anything else over HTTP. Raises the send errors."""
        if not self.holds(url):
            return await download(self._http, url, max_bytes)
        file_id = self.file_id(url)
        stored = await self.load(file_id) if file_id is not None else None
        if stored is None:
            raise PermanentSendError("The attachment is no longer stored")
        if stored.size > max_bytes:
            raise PermanentSendError(
                f"The attachment is larger than {max_bytes} bytes, the most allowed here"
            )
        return AttachmentContent(stored.content, stored.mime_type)
