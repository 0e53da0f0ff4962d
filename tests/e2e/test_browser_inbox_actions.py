"""The agent inbox's actions in headless Chromium, done as agents do them and checked on screen and through the API:
transfers with a note (to an agent, to a team) that arrive live in the receiver's Mine, an assignment by another
agent that moves the conversation live, pending / snooze (and the wake-up) / resolve / reopen, merge and undo from
both sides of a merge suggestion, a ticket opened from the conversation, labels and the label filter, a canned
response by `/`, and the j/k/r/e shortcuts. Two agents, each in a browser context of their own (en-US), signed in
once for the module."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from connectors.wechat import WeChatSettings
from connectors.wechat.common.testing import SignedDeliveries
from tests.conftest import bearer, inbox_of, wait_for
from tests.e2e.served_hub import FakeWeChatApi, omnihub_command, served_hub
from tests.e2e.test_browser_widget import (  # the widget's module skips when Chromium or Playwright is missing
    DESKTOP,
    UI_TIMEOUT_MS,
    Browser,
    Page,
    Route,
    RunningHub,
    browser,  # noqa: F401 (a fixture)
    expect,
    record_errors,
)

pytestmark = pytest.mark.e2e

SECOND_AGENT = "Second Agent"
TEAM = "Billing"


@dataclass
class Agent:
    """A signed-in agent: their page (its own browser context) and the console errors it logged."""

    id: str
    name: str
    page: Page
    console_errors: list[str] = field(default_factory=list)


@dataclass
class Inboxes:
    hub: RunningHub
    admin: Agent
    second: Agent
    team_id: str


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub of this module's own, sweeping every second (snoozed conversations wake quickly), with a second agent
    and a manually routed web chat inbox (conversations wait, unassigned, for an agent to act); it may call a
    stand-in for WeChat's API on this machine."""
    data_dir = tmp_path_factory.mktemp("inbox-actions")
    with served_hub(
        data_dir,
        OMNIHUB_SWEEP_INTERVAL_SECONDS="1",
        OMNIHUB_LOG_LEVEL="WARNING",
        OMNIHUB_ALLOWED_PRIVATE_NETWORKS="127.0.0.1/32",  # the stand-in for WeChat's API
    ) as served:
        subprocess.run(
            [
                omnihub_command(),
                "create-admin",
                "--email=second@demo.omnihub.local",
                f"--name={SECOND_AGENT}",
                f"--password={served.demo['admin_password']}-second",
                "--workspace=Demo Shop",
            ],
            env=served.environment,
            check=True,
            capture_output=True,
            timeout=60,
        )
        hub = RunningHub(served.url, served.demo, served.log)
        routing = f"/api/v1/inboxes/{inbox_of(hub.demo, 'webchat')['id']}/routing"
        assert hub.api.put(routing, json={"strategy": "manual"}).status_code == 200
        yield hub
        hub.api.close()


def sign_in(browser: Browser, hub: RunningHub, email: str, password: str) -> tuple[Page, list[str]]:  # noqa: F811
    """A fresh English-speaking context in UTC (the snooze field is local time) signed in at /inbox."""
    console_errors: list[str] = []
    context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    record_errors(page, console_errors)
    page.goto(f"{hub.url}/inbox")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    return page, console_errors


@pytest.fixture(scope="module")
def inboxes(browser: Browser, hub_server: RunningHub) -> Iterator[Inboxes]:  # noqa: F811
    agents = {agent["name"]: agent["id"] for agent in hub_server.api.get("/api/v1/agents").json()}
    team = hub_server.api.post("/api/v1/teams", json={"name": TEAM, "agent_ids": [agents["Demo Admin"]]})
    assert team.status_code == 201, team.text
    admin_page, admin_errors = sign_in(
        browser, hub_server, hub_server.demo["admin_email"], hub_server.demo["admin_password"]
    )
    second_page, second_errors = sign_in(
        browser, hub_server, "second@demo.omnihub.local", f"{hub_server.demo['admin_password']}-second"
    )
    yield Inboxes(
        hub_server,
        Agent(agents["Demo Admin"], "Demo Admin", admin_page, admin_errors),
        Agent(agents[SECOND_AGENT], SECOND_AGENT, second_page, second_errors),
        team.json()["id"],
    )
    admin_page.context.close()
    second_page.context.close()


@pytest.fixture
def agents(inboxes: Inboxes) -> Iterator[Inboxes]:
    """The two signed-in agents, back on the All tab of open conversations; no console error during the test."""
    for agent in (inboxes.admin, inboxes.second):
        if not agent.page.get_by_role("tab", name="All").is_visible():  # left on a record page
            agent.page.goto(f"{inboxes.hub.url}/inbox")
        show_tab(agent.page, "All")
    yield inboxes
    assert inboxes.admin.console_errors == []
    assert inboxes.second.console_errors == []


def show_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


def new_conversation(hub: RunningHub, topic: str) -> tuple[dict[str, Any], str, str]:
    """A new visitor writes on the web chat: the conversation once stored, the message, the visitor's token."""
    text = f"{topic} {uuid.uuid4().hex[:8]}"
    posted = httpx.post(
        f"{hub.url}/widget/{hub.widget_token}/messages", json={"text": text, "client_id": uuid.uuid4().hex}
    )
    assert posted.status_code == 201, posted.text
    return wait_for(lambda: hub.conversation_with(text), timeout=15), text, posted.json()["visitor_token"]


def row_of(page: Page, conversation: dict[str, Any]):
    return page.locator(f'#conversations [data-conversation-id="{conversation["id"]}"]')


def open_conversation(page: Page, conversation: dict[str, Any], text: str) -> None:
    """Click the conversation's row (it arrived live) and wait for its messages."""
    row_of(page, conversation).click(timeout=UI_TIMEOUT_MS)
    expect(page.locator(".message-in .message-text")).to_have_text([text], timeout=UI_TIMEOUT_MS)


def stored(hub: RunningHub, conversation: dict[str, Any]) -> dict[str, Any]:
    return hub.api.get(f"/api/v1/conversations/{conversation['id']}").json()


def texts_of(hub: RunningHub, conversation: dict[str, Any], direction: str) -> list[str]:
    """The stored texts of the conversation's messages going this way (`in`, `out` or `note`), oldest first."""
    return [
        message["text"] for message in hub.messages(conversation["id"]) if message["direction"] == direction
    ]


def test_a_transfer_with_a_note_arrives_live_in_the_receivers_mine_then_goes_to_a_team(
    agents: Inboxes,
) -> None:
    hub, admin, second = agents.hub, agents.admin.page, agents.second.page
    show_tab(second, "Mine")
    conversation, text, _ = new_conversation(hub, "My parcel is lost")
    open_conversation(admin, conversation, text)
    expect(row_of(second, conversation)).to_have_count(0)

    admin.locator("#assign-target").select_option(f"agent:{agents.second.id}")
    admin.get_by_label("Transfer note").fill("VIP customer, parcel lost twice")
    admin.get_by_role("button", name="Transfer").click()
    expect(admin.locator("#action-status")).to_have_text("Transferred.", timeout=UI_TIMEOUT_MS)
    expect(admin.locator("#facts")).to_contain_text(SECOND_AGENT)

    arrived = row_of(second, conversation)
    expect(arrived).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(arrived.locator(".assignee")).to_have_text(SECOND_AGENT)
    open_conversation(second, conversation, text)
    expect(second.locator(".message-note .message-text")).to_have_text(
        ["VIP customer, parcel lost twice"], timeout=UI_TIMEOUT_MS
    )
    assert stored(hub, conversation)["assignee_id"] == agents.second.id
    assert texts_of(hub, conversation, "note") == ["VIP customer, parcel lost twice"]

    second.locator("#assign-target").select_option(f"team:{agents.team_id}")
    second.get_by_label("Transfer note").fill("Billing must refund")
    second.get_by_role("button", name="Transfer").click()
    expect(second.locator("#action-status")).to_have_text("Transferred.", timeout=UI_TIMEOUT_MS)
    expect(second.locator("#facts")).to_contain_text(TEAM)
    expect(row_of(second, conversation)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(admin.locator(".message-note .message-text")).to_have_text(
        ["VIP customer, parcel lost twice", "Billing must refund"], timeout=UI_TIMEOUT_MS
    )
    after = stored(hub, conversation)
    assert after["team_id"] == agents.team_id and after["assignee_id"] != agents.second.id
    assert texts_of(hub, conversation, "note") == ["VIP customer, parcel lost twice", "Billing must refund"]


def test_an_assignment_made_by_another_agent_moves_the_conversation_live(agents: Inboxes) -> None:
    hub, admin, second = agents.hub, agents.admin.page, agents.second.page
    show_tab(admin, "Unassigned")
    conversation, text, _ = new_conversation(hub, "Can someone help?")
    open_conversation(admin, conversation, text)
    admin.evaluate("window.notReloaded = true")
    open_conversation(second, conversation, text)

    second.get_by_role("button", name="Assign to me").click()
    expect(second.locator("#facts")).to_contain_text(SECOND_AGENT, timeout=UI_TIMEOUT_MS)
    expect(row_of(admin, conversation)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(admin.locator("#facts")).to_contain_text(SECOND_AGENT)
    show_tab(second, "Mine")
    expect(row_of(second, conversation)).to_be_visible()

    admin.locator("#assign-target").select_option(f"agent:{agents.admin.id}")
    admin.get_by_role("button", name="Assign", exact=True).click()
    expect(row_of(second, conversation)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(second.locator("#facts")).to_contain_text("Demo Admin", timeout=UI_TIMEOUT_MS)
    assert admin.evaluate("window.notReloaded") is True
    assert stored(hub, conversation)["assignee_id"] == agents.admin.id


def test_a_conversation_that_arrives_live_while_the_list_loads_stays_in_the_list(agents: Inboxes) -> None:
    """The list page asked for before the conversation existed comes back after its live row was shown: the row
    stays. The page's answer is held here to make that order certain; it comes back with a next cursor so that the
    Load more button shows when the page has been taken in."""
    hub, admin = agents.hub, agents.admin.page
    held: list[tuple[Route, dict[str, Any]]] = []
    admin.route("**/api/v1/conversations?*", lambda route: held.append((route, route.fetch().json())))
    try:
        admin.get_by_role("tab", name="Unassigned").click()
        for _ in range(UI_TIMEOUT_MS // 50):
            if held:
                break
            admin.wait_for_timeout(50)
        assert len(held) == 1
        conversation, _, _ = new_conversation(hub, "Arrived while the list was on its way")
        expect(row_of(admin, conversation)).to_be_visible(timeout=UI_TIMEOUT_MS)

        route, page = held[0]
        route.fulfill(json={**page, "next_cursor": page["next_cursor"] or "a-page-to-come"})
        expect(admin.locator("#load-more")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(row_of(admin, conversation)).to_be_visible()
    finally:
        admin.unroute("**/api/v1/conversations?*")


def test_pending_snooze_and_wake_up_resolve_and_reopen(agents: Inboxes) -> None:
    hub, admin = agents.hub, agents.admin.page
    conversation, text, visitor_token = new_conversation(hub, "Call me back later")
    open_conversation(admin, conversation, text)
    admin.get_by_role("button", name="Assign to me").click()
    status = admin.locator("#thread-title .status")
    expect(status).to_have_text("assigned", timeout=UI_TIMEOUT_MS)

    admin.get_by_role("button", name="Pending").click()
    expect(status).to_have_text("pending", timeout=UI_TIMEOUT_MS)
    assert stored(hub, conversation)["status"] == "pending"

    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    admin.get_by_label("Snooze until").fill(until.strftime("%Y-%m-%dT%H:%M"))
    admin.get_by_role("button", name="Snooze").click()
    expect(status).to_have_text("snoozed", timeout=UI_TIMEOUT_MS)
    snoozed = stored(hub, conversation)
    assert snoozed["status"] == "snoozed"
    assert datetime.fromisoformat(snoozed["snoozed_until"]) == until
    expect(row_of(admin, conversation)).to_have_count(0)  # the Open list leaves snoozed ones out

    wrote = httpx.post(
        f"{hub.url}/widget/{hub.widget_token}/messages",
        json={"text": "Are you there?", "client_id": uuid.uuid4().hex},
        headers=bearer(visitor_token),
    )
    assert wrote.status_code == 201, wrote.text
    expect(status).to_have_text("assigned", timeout=UI_TIMEOUT_MS)  # the customer's message wakes it, live
    expect(row_of(admin, conversation)).to_be_visible()
    expect(admin.locator(".message-in .message-text")).to_have_text([text, "Are you there?"])

    soon = datetime.now(UTC) + timedelta(seconds=3)  # the minute the field offers is too long to wait here
    snooze = hub.api.post(
        f"/api/v1/conversations/{conversation['id']}/status",
        json={"status": "snoozed", "snoozed_until": soon.isoformat()},
    )
    assert snooze.status_code == 200, snooze.text
    expect(status).to_have_text("snoozed", timeout=UI_TIMEOUT_MS)
    expect(status).to_have_text("assigned", timeout=UI_TIMEOUT_MS)  # woken by the sweeper, shown live
    expect(row_of(admin, conversation)).to_be_visible()
    assert stored(hub, conversation)["status"] == "assigned"

    admin.get_by_role("button", name="Resolve").click()
    expect(status).to_have_text("resolved", timeout=UI_TIMEOUT_MS)
    assert stored(hub, conversation)["status"] == "resolved"
    admin.get_by_role("button", name="Reopen").click()
    expect(status).to_have_text("assigned", timeout=UI_TIMEOUT_MS)
    assert stored(hub, conversation)["status"] == "assigned"


def claim_email(hub: RunningHub, visitor_token: str, email: str) -> None:
    """The visitor says (unsigned, as a site's own login form may) they are `email`: agents get a merge suggestion."""
    claimed = httpx.post(
        f"{hub.url}/widget/{hub.widget_token}/identify", json={"email": email}, headers=bearer(visitor_token)
    )
    assert claimed.json() == {"verified": False}, claimed.text


def test_merge_from_a_suggestion_in_the_customer_panel_then_undo(agents: Inboxes) -> None:
    hub, admin = agents.hub, agents.admin.page
    email = f"li.wei.{uuid.uuid4().hex[:6]}@example.com"
    known = hub.api.put(
        f"/api/v1/contacts/by_external_id/crm-{uuid.uuid4().hex[:6]}",
        json={"name": "Li Wei", "identities": [{"kind": "email", "value": email}]},
    )
    assert known.status_code == 201, known.text
    conversation, text, visitor_token = new_conversation(hub, "I have an account")
    claim_email(hub, visitor_token, email)
    open_conversation(admin, conversation, text)

    suggestion = admin.locator("#customer .suggestions li", has_text=f"email: {email}")
    expect(suggestion).to_be_visible(timeout=UI_TIMEOUT_MS)
    suggestion.get_by_role("button", name="Merge").click()
    expect(suggestion.locator(".merge-status")).to_contain_text("Merged.", timeout=UI_TIMEOUT_MS)
    assert hub.api.get(f"/api/v1/contacts/{known.json()['id']}").status_code == 410
    survivor = hub.api.get(f"/api/v1/contacts/{conversation['contact_id']}").json()
    assert email in [identity["value"] for identity in survivor["identities"]]

    suggestion.get_by_role("button", name="Undo").click()
    expect(admin.locator("#customer .merge-status")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(admin.locator("#customer .identities")).not_to_contain_text(email)
    assert hub.api.get(f"/api/v1/contacts/{known.json()['id']}").status_code == 200
    restored = hub.api.get(f"/api/v1/contacts/{conversation['contact_id']}").json()
    assert email not in [identity["value"] for identity in restored["identities"]]

    # A suggestion seen from the other side, on the claimed customer's page, merges the visitor into them.
    later, _, later_token = new_conversation(hub, "It is me again")
    claim_email(hub, later_token, email)
    admin.goto(f"{hub.url}/inbox/contacts/{known.json()['id']}")
    suggestion = admin.locator("#records .suggestions li", has_text=f"email: {email}")
    suggestion.get_by_role("button", name="Merge").click(timeout=UI_TIMEOUT_MS)
    expect(suggestion.locator(".merge-status")).to_contain_text("Merged.", timeout=UI_TIMEOUT_MS)
    assert hub.api.get(f"/api/v1/contacts/{later['contact_id']}").status_code == 410
    suggestion.get_by_role("button", name="Undo").click()
    expect(admin.locator("#records .merge-status")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    assert hub.api.get(f"/api/v1/contacts/{later['contact_id']}").status_code == 200
    admin.get_by_role("link", name="Conversations").click()


def test_labels_filter_canned_response_and_a_ticket_from_the_conversation(agents: Inboxes) -> None:
    hub, admin = agents.hub, agents.admin.page
    conversation, text, _ = new_conversation(hub, "Refund please")
    other, _, _ = new_conversation(hub, "Another question")
    label = f"refund-{uuid.uuid4().hex[:4]}"
    open_conversation(admin, conversation, text)
    expect(row_of(admin, other)).to_be_visible()

    admin.get_by_label("Labels").fill(f"{label}, urgent")
    admin.get_by_role("button", name="Save labels").click()
    expect(admin.locator("#facts")).to_contain_text(f"{label}, urgent", timeout=UI_TIMEOUT_MS)
    assert stored(hub, conversation)["labels"] == [label, "urgent"]
    admin.locator(".filters summary").click()
    admin.locator("#label-filter").select_option(label)
    expect(admin.locator("#conversations .conversation")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(row_of(admin, conversation)).to_be_visible()
    admin.locator("#label-filter").select_option("")
    expect(row_of(admin, other)).to_be_visible(timeout=UI_TIMEOUT_MS)
    admin.locator(".filters summary").click()

    short_code = f"refund-{uuid.uuid4().hex[:4]}"
    canned = hub.api.post(
        "/api/v1/canned_responses",
        json={"short_code": short_code, "content": "Your refund is on its way."},
    )
    assert canned.status_code == 201, canned.text
    composer = admin.get_by_role("textbox", name="Reply")
    composer.press_sequentially(f"/{short_code}")
    expect(admin.locator("#canned").get_by_role("option")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    composer.press("Enter")
    expect(composer).to_have_value("Your refund is on its way.")
    composer.press("Enter")
    expect(admin.locator(".message-out .message-text")).to_have_text(
        ["Your refund is on its way."], timeout=UI_TIMEOUT_MS
    )
    wait_for(lambda: texts_of(hub, conversation, "out") == ["Your refund is on its way."])

    subject = f"Refund for order {uuid.uuid4().hex[:6]}"
    admin.get_by_label("Ticket subject").fill(subject)
    admin.get_by_role("button", name="Open ticket").click()
    expect(admin.locator("#customer").get_by_role("link", name=subject)).to_be_visible(timeout=UI_TIMEOUT_MS)
    [ticket] = [
        ticket
        for ticket in hub.api.get("/api/v1/tickets", params={"limit": 100}).json()["items"]
        if ticket["subject"] == subject
    ]
    assert ticket["conversation_id"] == conversation["id"]

    admin.get_by_role("link", name="Tickets").click()
    ticket_row = admin.locator(".records-table tr", has_text=subject)
    expect(ticket_row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    ticket_row.get_by_role("link", name=subject).click()
    expect(admin.get_by_role("heading", name=subject)).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert admin.url.endswith(f"/inbox/tickets/{ticket['id']}")
    admin.get_by_role("link", name="Open the conversation").click()
    expect(admin.locator(".message-in .message-text")).to_have_text([text], timeout=UI_TIMEOUT_MS)


def test_an_answer_for_the_code_typed_that_comes_after_the_pick_does_not_open_the_list_again(
    agents: Inboxes,
) -> None:
    """The canned responses are asked for again at each letter typed, and Enter chooses from the list on screen, so
    the answer for the last letter can come back after the pick. It is dropped: the next Enter sends the reply.
    (It opened the list again, and that Enter chose from it instead.) The answer is held here to make the order
    certain."""
    hub, admin = agents.hub, agents.admin.page
    conversation, text, _ = new_conversation(hub, "Has my parcel left?")
    open_conversation(admin, conversation, text)
    short_code = f"late-{uuid.uuid4().hex[:6]}"
    canned = hub.api.post(
        "/api/v1/canned_responses", json={"short_code": short_code, "content": "Your parcel left today."}
    )
    assert canned.status_code == 201, canned.text
    held: list[Route] = []
    admin.route(
        "**/api/v1/canned_responses?*",
        lambda route: (
            held.append(route) if route.request.url.endswith(f"q={short_code}") else route.continue_()
        ),
    )
    try:
        composer = admin.get_by_role("textbox", name="Reply")
        composer.press_sequentially(f"/{short_code[:-1]}")
        expect(admin.locator("#canned").get_by_role("option")).to_have_count(1, timeout=UI_TIMEOUT_MS)
        composer.press(short_code[-1])
        for _ in range(UI_TIMEOUT_MS // 50):
            if held:
                break
            admin.wait_for_timeout(50)
        assert len(held) == 1
        composer.press("Enter")
        expect(composer).to_have_value("Your parcel left today.")
        held[0].continue_()
        admin.wait_for_timeout(500)  # the late answer's time to arrive and, before the fix, open the list
        composer.press("Enter")
        expect(admin.locator(".message-out .message-text")).to_have_text(
            ["Your parcel left today."], timeout=UI_TIMEOUT_MS
        )
    finally:
        admin.unroute("**/api/v1/canned_responses?*")


def test_keyboard_j_k_move_through_the_list_r_replies_and_e_resolves(agents: Inboxes) -> None:
    hub, admin = agents.hub, agents.admin.page
    for topic in ("First", "Second", "Third"):
        conversation, text, _ = new_conversation(hub, f"{topic} in line")
        expect(row_of(admin, conversation)).to_be_visible(timeout=UI_TIMEOUT_MS)
    open_conversation(admin, conversation, text)  # the newest: the top of the list
    ids = admin.locator("#conversations .conversation").evaluate_all(
        "rows => rows.map(row => row.dataset.conversationId)"
    )
    assert ids[0] == conversation["id"]
    current = admin.locator("#conversations .conversation[aria-current=true]")
    composer = admin.get_by_role("textbox", name="Reply")
    composer.press("Escape")  # out of the composer, where letters are text

    for key, index in (("j", 1), ("j", 2), ("k", 1), ("k", 0)):
        admin.keyboard.press(key)
        expect(current).to_have_attribute("data-conversation-id", ids[index])
        expect(admin).to_have_url(f"{hub.url}/inbox/conversations/{ids[index]}")
    expect(admin.locator(".message-in .message-text")).to_have_text([text])
    assert composer.input_value() == ""

    expect(composer).not_to_be_focused()
    admin.keyboard.press("r")
    expect(composer).to_be_focused()
    composer.press_sequentially("Thanks for waiting")
    composer.press("Escape")
    admin.keyboard.press("j")  # a draft stays with its own customer
    expect(current).to_have_attribute("data-conversation-id", ids[1])
    expect(composer).to_have_value("")
    admin.keyboard.press("k")
    expect(current).to_have_attribute("data-conversation-id", ids[0])
    expect(composer).to_have_value("Thanks for waiting")
    admin.keyboard.press("r")
    composer.press("Enter")
    expect(admin.locator(".message-out .message-text")).to_have_text(
        ["Thanks for waiting"], timeout=UI_TIMEOUT_MS
    )
    composer.press("Escape")
    admin.keyboard.press("e")
    expect(admin.locator("#thread-title .status")).to_have_text("resolved", timeout=UI_TIMEOUT_MS)
    assert stored(hub, conversation)["status"] == "resolved"
    assert texts_of(hub, conversation, "out") == ["Thanks for waiting"]


def test_a_note_mentioning_an_agent_marks_the_conversation_for_them_until_they_open_it(
    agents: Inboxes,
    browser: Browser,  # noqa: F811
) -> None:
    hub, admin, second = agents.hub, agents.admin.page, agents.second.page
    conversation, text, _ = new_conversation(hub, "Who handles refunds?")
    open_conversation(admin, conversation, text)
    expect(row_of(second, conversation)).to_be_visible(timeout=UI_TIMEOUT_MS)

    composer = admin.get_by_role("textbox", name="Reply")
    composer.press_sequentially("@sec")
    expect(admin.locator("#mentions").get_by_role("option")).to_have_text([f"@{SECOND_AGENT}"])
    composer.press("Enter")  # picks the agent, sends nothing
    composer.press_sequentially("can you take this refund?")
    admin.get_by_role("button", name="Note", exact=True).click()
    note = f"@{SECOND_AGENT} can you take this refund?"
    expect(admin.locator(".message-note .message-text")).to_have_text([note])

    mark = row_of(second, conversation).locator(".mention")
    expect(mark).to_have_attribute("aria-label", "You were mentioned", timeout=UI_TIMEOUT_MS)
    second.reload()  # the mark arrived live (above); the server keeps it across a reload
    expect(second.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    expect(mark).to_be_visible()
    open_conversation(second, conversation, text)
    expect(second.locator(".message-note .message-text")).to_have_text([note])
    expect(mark).to_have_count(0)
    expect(row_of(admin, conversation).locator(".mention")).to_have_count(0)
    assert texts_of(hub, conversation, "note") == [note]

    # Written where no inbox of the second agent ever was: a fresh sign-in (an empty browser) has the mark from the
    # server, and opening the conversation there reads it for good.
    later, later_text, _ = new_conversation(hub, "Refund for order 12")
    written = hub.api.post(
        f"/api/v1/conversations/{later['id']}/notes", json={"text": f"@{SECOND_AGENT.lower()}: this one too"}
    )
    assert written.status_code == 201, written.text
    fresh, fresh_errors = sign_in(
        browser, hub, "second@demo.omnihub.local", f"{hub.demo['admin_password']}-second"
    )
    try:
        show_tab(fresh, "All")
        later_mark = row_of(fresh, later).locator(".mention")
        expect(later_mark).to_have_attribute("aria-label", "You were mentioned", timeout=UI_TIMEOUT_MS)
        expect(row_of(fresh, conversation).locator(".mention")).to_have_count(0)
        open_conversation(fresh, later, later_text)
        expect(later_mark).to_have_count(0)
        fresh.goto(f"{hub.url}/inbox")  # the list alone, nothing opened
        expect(fresh.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
        show_tab(fresh, "All")
        expect(row_of(fresh, later)).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(later_mark).to_have_count(0)
        assert fresh_errors == []
    finally:
        fresh.context.close()


def wechat_message_written(
    hub: RunningHub, text: str, written_at: datetime, inbox: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A follower's text message to a WeChat official account (the demo's unless `inbox`, with its settings), written
    at `written_at` and delivered now, signed as WeChat signs it: the conversation once stored."""
    inbox = inbox or inbox_of(hub.demo, "wechat_oa")
    signing = {key: inbox.get(key) for key in ("app_id", "token", "mode", "encoding_aes_key")}
    settings = WeChatSettings.model_validate(signing | {"app_secret": "unused"})
    now = datetime.now(UTC)
    delivery = SignedDeliveries(
        settings, "xml", signed_at=now, received_at=now, nonce=secrets.token_hex(5)
    ).post(
        f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[o-{uuid.uuid4().hex}]]>"
        f"</FromUserName><CreateTime>{int(written_at.timestamp())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{secrets.randbelow(10**15)}</MsgId></xml>".encode()
    )
    answer = httpx.post(
        hub.url + urlsplit(inbox["callback_url"]).path, params=dict(delivery.query), content=delivery.body
    )
    assert answer.status_code == 200, answer.text
    return wait_for(lambda: hub.conversation_with(text), timeout=15)


def test_past_wechats_48_hour_window_the_composer_refuses_replies_but_takes_notes(agents: Inboxes) -> None:
    hub, admin = agents.hub, agents.admin.page
    text = f"Is my parcel lost? {uuid.uuid4().hex[:8]}"
    conversation = wechat_message_written(hub, text, datetime.now(UTC) - timedelta(hours=49))
    open_conversation(admin, conversation, text)
    expect(admin.locator(".message-in .channel")).to_have_text(["wechat_oa"])
    expect(admin.locator("#reply-context")).to_contain_text("reply window closed", timeout=UI_TIMEOUT_MS)
    expect(admin.get_by_role("button", name="Reply", exact=True)).to_be_disabled()
    composer = admin.get_by_role("textbox", name="Reply")
    composer.fill("Sorry for the wait")
    composer.press("Enter")  # refused as the button is
    admin.get_by_role("button", name="Note", exact=True).click()
    expect(admin.locator(".message-note .message-text")).to_have_text(["Sorry for the wait"])
    assert texts_of(hub, conversation, "out") == []
    assert texts_of(hub, conversation, "note") == ["Sorry for the wait"]

    rows = admin.locator("#conversations .conversation")
    admin.locator(".filters summary").click()
    admin.locator("#channel-filter").select_option("wechat_oa")
    expect(rows.filter(has_not=admin.locator(".channel-wechat_oa"))).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(row_of(admin, conversation)).to_be_visible()
    admin.locator("#inbox-filter").select_option(inbox_of(hub.demo, "wechat_oa")["id"])
    expect(row_of(admin, conversation)).to_be_visible(timeout=UI_TIMEOUT_MS)
    admin.locator("#status-filter").select_option("resolved")
    expect(row_of(admin, conversation)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    admin.locator("#status-filter").select_option(index=0)  # open conversations, as the list starts
    admin.locator("#inbox-filter").select_option("")
    admin.locator("#channel-filter").select_option("")
    expect(row_of(admin, conversation)).to_be_visible(timeout=UI_TIMEOUT_MS)
    admin.locator(".filters summary").click()


def test_a_reply_wechat_refuses_shows_failed_with_wechats_reason(agents: Inboxes) -> None:
    hub, admin = agents.hub, agents.admin.page
    with FakeWeChatApi(access_token="stand-in-token", send_errcode=45015) as wechat:
        settings = {
            "app_id": f"wx{secrets.token_hex(8)}",
            "app_secret": "stand-in-secret",
            "token": "StandInToken2026",
            "mode": "plain",
            "api_base_url": wechat.url,
        }
        created = hub.api.post(
            "/api/v1/inboxes", json={"kind": "wechat_oa", "name": "WeChat stand-in", "settings": settings}
        )
        assert created.status_code == 201, created.text
        text = f"Can I change my address? {uuid.uuid4().hex[:8]}"
        conversation = wechat_message_written(hub, text, datetime.now(UTC), created.json() | settings)
        open_conversation(admin, conversation, text)
        expect(admin.locator("#facts")).to_contain_text("Reply window ends")
        admin.get_by_role("textbox", name="Reply").fill("Yes, which address?")
        admin.get_by_role("button", name="Reply", exact=True).click()
        delivery = admin.locator(".message-out .delivery")
        expect(delivery).to_contain_text("failed", timeout=UI_TIMEOUT_MS)
        expect(delivery.locator(".delivery-error")).to_contain_text("more than 48 hours ago")
        expect(delivery.locator(".delivery-error")).to_contain_text("WeChat errcode 45015")
        assert "/cgi-bin/message/custom/send" in wechat.requests
