"""The customer directory: identities are found only in their own namespace (workspace, kind, scope)."""

from __future__ import annotations

from sqlalchemy import event

from connectors.wechat.common.identities import WECHAT_OPENID, WECHAT_UNIONID
from hub.customers import CustomerDirectory
from normalizer import IdentityRef
from tests.conftest import run


def test_one_batch_finds_identities_of_several_namespaces_and_never_mixes_them(settings, demo) -> None:
    """The same openid under two app ids is two people; a unionid is a third namespace; all load in one query."""
    workspace = demo["workspace_id"]
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    senders = [
        IdentityRef(WECHAT_OPENID, openid, "wx-official-account"),
        IdentityRef(WECHAT_OPENID, openid, "wx-mini-program"),
        IdentityRef(WECHAT_UNIONID, "union-1"),
    ]

    async def resolve_twice(hub):
        async with hub.database.session() as session:
            directory = CustomerDirectory(session)
            first = [await directory.resolve(workspace, sender) for sender in senders]
            await directory.flush()
            await session.commit()
        identity_queries: list[str] = []
        event.listen(
            hub.database.engine.sync_engine,
            "before_cursor_execute",
            lambda _connection, _cursor, statement, *_rest: (
                identity_queries.append(statement) if "FROM identity" in statement else None
            ),
        )
        async with hub.database.session() as session:
            directory = CustomerDirectory(session)
            await directory.load([(workspace, sender) for sender in senders])
            again = [await directory.resolve(workspace, sender) for sender in senders]
            rows = [directory.identity_row(workspace, sender) for sender in senders]
        return first, again, rows, identity_queries

    first, again, rows, identity_queries = run(resolve_twice, settings)
    assert len(identity_queries) == 1
    assert len({contact_id for contact_id, _ in first}) == 3
    assert again == first
    assert [row.id for row in rows] == [identity_id for _, identity_id in first]
    assert [(row.kind, row.scope) for row in rows] == [
        ("wechat_openid", "wx-official-account"),
        ("wechat_openid", "wx-mini-program"),
        ("wechat_unionid", ""),
    ]
