"""An edit to the knowledge base is answered from at once by every process sharing the database."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import event
from sqlmodel import select

from hub.app import create_app
from hub.knowledge_base import knowledge_base
from tests.conftest import bearer, run
from tests.hub.test_knowledge_base_api import RETURNS, SHIPPING, ask, create


def test_two_processes_answer_from_each_others_edits_without_restart(client, settings, demo):
    token = demo["api_token"]
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as other_process:
        assert ask(other_process, token, "how do I return an item")["decision"] == "abstain"

        returns = create(client, token, RETURNS)
        assert ask(other_process, token, "how do I return an item")["article_id"] == returns["id"]

        shipping = create(client, token, SHIPPING)
        assert ask(other_process, token, "when will my parcel arrive")["article_id"] == shipping["id"]

        path = f"/api/v1/kb/articles/{returns['id']}"
        client.patch(path, json={"questions": ["Do you sell gift cards?"]}, headers=bearer(token))
        assert ask(other_process, token, "do you sell gift cards")["article_id"] == returns["id"]
        assert ask(client, token, "do you sell gift cards")["article_id"] == returns["id"]

        other_process.delete(path, headers=bearer(token))
        assert ask(client, token, "do you sell gift cards")["decision"] == "abstain"

        imported = client.post(
            "/api/v1/kb/import",
            params={"format": "markdown"},
            content=b"# Gift cards\n\n## Questions\n\n- Do you sell gift cards?\n\n## Answer\n\nYes, from 10 euros.\n",
            headers=bearer(token),
        )
        assert imported.json() == {"created": 1, "updated": 0}
        answered = ask(other_process, token, "do you sell gift cards")
        assert answered["decision"] == "answer" and answered["article_id"] not in (
            returns["id"],
            shipping["id"],
        )


def test_asking_takes_no_pooled_connection_beyond_the_callers(client, settings, demo):
    """A bot turn asks while its session holds a connection: with as many turns in flight as the pool has
    connections, a second checkout each would wait for the pool's timeout. Fresh and stale index alike."""
    token = demo["api_token"]
    returns = create(client, token, RETURNS)

    async def checkouts_while_asking(hub) -> list[int]:
        counted: list[int] = []
        event.listen(hub.database.engine.sync_engine, "checkout", lambda *_: counted.append(1))
        per_ask = []
        for _ in range(2):
            async with hub.database.session() as session:
                await session.exec(select(1))
                before = len(counted)
                found = await knowledge_base(hub).ask(session, demo["workspace_id"], "return an item")
                assert found.article_id == returns["id"]
                per_ask.append(len(counted) - before)
        return per_ask

    assert run(checkouts_while_asking, settings) == [0, 0]
