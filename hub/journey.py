"""The visitor's journey: the pages their browser reports, kept on their contact (the newest MAX_PAGES), with the
time zone and language the browser gives, and shown to the agents live."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors.routes import CustomerPage
from hub.customers import CustomerDirectory
from hub.models import Contact, PageView
from hub.views import PageViewView
from normalizer import IdentityRef

__all__ = ["MAX_PAGES", "page_view", "recent_pages", "record_page"]

MAX_PAGES = 50
"""Pages kept per contact: the trail is bounded, the oldest go first."""


def page_view(row: PageView) -> PageViewView:
    return PageViewView(url=row.url, title=row.title, referrer=row.referrer, viewed_at=row.viewed_at)


async def record_page(
    session: AsyncSession,
    workspace_id: str,
    region: str,
    visitor: IdentityRef,
    page: CustomerPage,
    now: datetime,
) -> tuple[str, PageView]:
    """Keep `page` on the visitor's contact (created when the visitor is new), drop what is beyond MAX_PAGES, and
    remember the browser's time zone and language. The caller commits."""
    directory = CustomerDirectory(session)
    contact_id, _ = await directory.resolve(workspace_id, visitor, region=region)
    await directory.flush()
    row = PageView(
        workspace_id=workspace_id,
        contact_id=contact_id,
        url=page.url,
        title=page.title,
        referrer=page.referrer,
        viewed_at=now,
    )
    session.add(row)
    contact = await session.get_one(Contact, contact_id)
    contact.time_zone = page.time_zone or contact.time_zone
    contact.language = page.language or contact.language
    await session.flush()
    kept = (
        select(PageView.id)
        .where(PageView.contact_id == contact_id)
        .order_by(col(PageView.id).desc())
        .limit(MAX_PAGES)
    )
    await session.execute(
        delete(PageView).where(col(PageView.contact_id) == contact_id, col(PageView.id).not_in(kept))
    )
    return contact_id, row


async def recent_pages(session: AsyncSession, contact: Contact) -> list[PageViewView]:
    """The contact's pages, newest (the one they are on now) first."""
    rows = (
        await session.exec(
            select(PageView)
            .where(PageView.workspace_id == contact.workspace_id, PageView.contact_id == contact.id)
            .order_by(col(PageView.id).desc())
            .limit(MAX_PAGES)
        )
    ).all()
    return [page_view(row) for row in rows]
