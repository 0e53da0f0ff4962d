"""Routing from several worker processes at once on PostgreSQL, with transfers between agents meanwhile: no agent
goes past capacity, no conversation is assigned twice, and every free seat is used."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, func, select

from hub import assignment
from hub.cli import _with_hub
from hub.demo import ensure_demo
from hub.models import Agent, AuditEntry, Contact, Conversation, Identity, Inbox, OutboxEvent, utcnow
from hub.settings import Settings
from routing.errors import TransferRefused
from tests.conftest import TEST_SECRET_KEY, run

AGENTS = 12
SEATS = 15
CONVERSATIONS = 300
WORKERS = 4
TASKS_PER_WORKER = 3
TRANSFERS_PER_WORKER = 60


def _settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=TEST_SECRET_KEY,
        public_url="http://testserver.local",
        embedded_worker=False,
    )


def _prepare(demo: dict) -> object:
    async def prepare(hub) -> list[str]:
        now = utcnow()
        workspace_id = demo["workspace_id"]
        async with hub.database.session() as session:
            inbox = (
                await session.exec(
                    select(Inbox).where(Inbox.workspace_id == workspace_id, Inbox.kind == "webchat")
                )
            ).one()
            agents = [
                Agent(
                    workspace_id=workspace_id,
                    email=f"agent{n}@concurrency.test",
                    name=f"Agent {n}",
                    password_hash="unused",
                    presence="online",
                    max_concurrent=SEATS,
                )
                for n in range(AGENTS)
            ]
            contacts = [
                Contact(workspace_id=workspace_id, name=f"Customer {n}") for n in range(CONVERSATIONS)
            ]
            identities = [
                Identity(
                    workspace_id=workspace_id, contact_id=contact.id, kind="webchat_visitor", value=f"v-{n}"
                )
                for n, contact in enumerate(contacts)
            ]
            conversations = [
                Conversation(
                    workspace_id=workspace_id,
                    inbox_id=inbox.id,
                    contact_id=contact.id,
                    identity_id=identity.id,
                    created_at=now - timedelta(seconds=CONVERSATIONS - n),
                )
                for n, (contact, identity) in enumerate(zip(contacts, identities, strict=True))
            ]
            for rows in (agents, contacts, identities, conversations):
                session.add_all(rows)
                await session.flush()
            await session.commit()
        return [conversation.id for conversation in conversations]

    return prepare


def _route_share(database_url: str, data_dir: str, conversation_ids: list[str], seed: int) -> None:
    """One worker process: a few concurrent tasks, each routing small batches of its share as they 'arrive',
    and one agent handing conversations to random colleagues meanwhile (a transfer takes a seat too)."""
    chance = random.Random(seed)

    async def route(hub) -> None:
        batches = [conversation_ids[start : start + 5] for start in range(0, len(conversation_ids), 5)]
        async with hub.database.session() as session:
            agents = (await session.exec(select(Agent).where(Agent.presence == "online"))).all()
        workspace_id, agent_ids = agents[0].workspace_id, [agent.id for agent in agents]

        async def task(mine: list[list[str]]) -> None:
            for batch in mine:
                await assignment.route_conversations(hub, batch)

        async def hand_over() -> None:
            for _ in range(TRANSFERS_PER_WORKER):
                with contextlib.suppress(TransferRefused):
                    await assignment.transfer(
                        hub,
                        workspace_id,
                        chance.choice(conversation_ids),
                        by_agent_id=None,
                        to_agent_id=chance.choice(agent_ids),
                        to_team_id=None,
                        note="",
                    )

        await asyncio.gather(
            hand_over(), *(task(batches[n::TASKS_PER_WORKER]) for n in range(TASKS_PER_WORKER))
        )

    asyncio.run(_with_hub(_settings(database_url, Path(data_dir)), route))


def test_concurrent_workers_never_overfill_an_agent_nor_assign_twice(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    settings = _settings(migrated_postgres_url, tmp_path)
    demo = run(ensure_demo, settings)
    conversation_ids = run(_prepare(demo), settings)

    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_route_share, args=(migrated_postgres_url, str(tmp_path), conversation_ids[n::WORKERS], n)
        )
        for n in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    assert [worker.exitcode for worker in workers] == [0] * WORKERS

    async def outcome(hub) -> tuple[list[Conversation], list[dict], int, int, list[str]]:
        async with hub.database.session() as session:
            rows = (
                await session.exec(select(Conversation).where(col(Conversation.id).in_(conversation_ids)))
            ).all()
            assigned_events = (
                await session.exec(
                    select(OutboxEvent.payload).where(col(OutboxEvent.event_type) == "conversation.assigned")
                )
            ).all()
            transfers = (
                await session.exec(
                    select(func.count()).where(col(OutboxEvent.event_type) == "conversation.transferred")
                )
            ).one()
            audits = (
                await session.exec(
                    select(func.count()).where(col(AuditEntry.action) == "conversation.assigned")
                )
            ).one()
            queue = await assignment.queued_conversations(session, demo["workspace_id"], lock=False)
        return list(rows), list(assigned_events), transfers, audits, [each.id for each, _ in queue]

    rows, assigned_events, transfers, audits, queue = run(outcome, settings)
    seats = AGENTS * SEATS
    loads = Counter(row.assignee_id for row in rows if row.assignee_id)
    assert max(loads.values()) == SEATS and len(loads) == AGENTS
    assert sum(loads.values()) == sum(1 for row in rows if row.status == "assigned") == seats
    first_assignments = [
        event["conversation"]["id"] for event in assigned_events if event["previous_assignee_id"] is None
    ]
    assert len(first_assignments) == len(set(first_assignments)) == seats
    moved = sum(1 for event in assigned_events if event["previous_assignee_id"] is not None)
    assert len(assigned_events) == audits == seats + moved and moved <= transfers
    assert len(queue) == CONVERSATIONS - seats
    assert set(queue) == {row.id for row in rows if row.assignee_id is None}
