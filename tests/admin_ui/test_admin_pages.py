"""The admin pages: rendered for an admin signed in to the inbox, refused (403 page) to an agent, sent to the
sign-in when signed out; user content is escaped; the pages show the API's own figures and facts."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from admin_ui.charts import bar_chart, line_chart
from admin_ui.i18n import chosen_language
from hub.models import WebhookDelivery, WebhookSubscription
from tests.conftest import bearer, inbox_of, run
from tests.hub.test_assignment_api import make_agents
from tests.hub.test_reports_api import RANGE, seeded  # noqa: F401  (a fixture)
from tests.hub.workspaces import token_of_another_workspace

XSS = "<script>alert(1)</script>"


@pytest.fixture
def admin_client(client, demo):
    """The test client signed in to the inbox as the demo admin (the session cookie)."""
    answer = client.post(
        "/api/v1/auth/session", json={"email": demo["admin_email"], "password": demo["admin_password"]}
    )
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


@pytest.fixture
def agent_client(client, demo, settings):
    """The test client carrying a plain agent's token in the session cookie."""
    agent = make_agents(settings, demo["workspace_id"], ["plain"])["plain"]
    client.cookies.set("omnihub_session", agent["token"])
    return client


def admin_paths(demo) -> list[str]:
    webchat = inbox_of(demo, "webchat")
    return [
        "/admin/inboxes",
        f"/admin/inboxes/new/{webchat['kind']}",
        f"/admin/inboxes/{webchat['id']}",
        "/admin/agents",
        "/admin/kb",
        "/admin/webhooks",
        "/admin/reports",
    ]


def test_every_admin_page_renders_for_an_admin_under_the_strict_policy(admin_client, demo):
    for path in admin_paths(demo):
        answer = admin_client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"
        html = answer.text
        assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/static/admin.js" defer>'], path
        assert "<style" not in html and " style=" not in html and " onclick=" not in html
        assert 'href="/inbox"' in html, "a link back to the inbox"
        csrf = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', html)
        assert csrf and csrf.group(1) == admin_client.headers["X-CSRF-Token"]


def test_an_agent_gets_the_403_page_and_no_admin_data(agent_client, demo):
    for path in admin_paths(demo):
        answer = agent_client.get(path)
        assert answer.status_code == 403, path
        assert "Only administrators can open the admin pages." in answer.text
        assert inbox_of(demo, "webchat")["widget_token"] not in answer.text
        assert "/admin/reports" not in answer.text, "no admin navigation for an agent"


@pytest.mark.parametrize("cookie", [None, "not-a-token"])
def test_signed_out_or_expired_goes_to_the_inbox_sign_in(client, demo, cookie):
    if cookie:
        client.cookies.set("omnihub_session", cookie)
    for path in [*admin_paths(demo), "/admin"]:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code in (302, 303, 307), path
        expected = f"/inbox?{urlencode({'next': path})}" if path != "/admin" else "/admin/inboxes"
        assert answer.headers["location"] == expected


def test_a_bearer_token_does_not_open_the_pages(client, demo):
    """Pages are for the browser's session; an integration's header alone is not a signed-in admin."""
    answer = client.get("/admin/inboxes", headers=bearer(demo["api_token"]), follow_redirects=False)
    assert answer.status_code in (302, 303, 307)


def test_an_inbox_named_like_markup_is_shown_as_text(admin_client, demo):
    webchat = inbox_of(demo, "webchat")
    renamed = admin_client.patch(f"/api/v1/inboxes/{webchat['id']}", json={"name": XSS})
    assert renamed.status_code == 200, renamed.text
    for path in ("/admin/inboxes", f"/admin/inboxes/{webchat['id']}"):
        html = admin_client.get(path).text
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_web_chat_inbox_page_shows_the_script_tag_to_paste_and_its_health(admin_client, demo):
    webchat = inbox_of(demo, "webchat")
    html = admin_client.get(f"/admin/inboxes/{webchat['id']}").text
    snippet = webchat["embed_snippet"].replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert snippet in html
    assert 'id="health"' in html and "active" in html
    assert 'data-api="/api/v1/inboxes/' + webchat["id"] + '/routing" data-method="PUT"' in html
    assert 'name="weekly.mon"' in html


def test_a_callback_channel_shows_its_callback_url_and_token(admin_client, demo, settings):
    callback = next(inbox for inbox in demo["inboxes"] if "callback_url" in inbox)
    html = admin_client.get(f"/admin/inboxes/{callback['id']}").text
    assert callback["callback_url"] in html
    assert 'data-fact="token"' in html


def test_the_new_inbox_form_has_an_input_and_an_error_slot_for_each_setting_the_api_names(admin_client, demo):
    callback = next(inbox for inbox in demo["inboxes"] if "callback_url" in inbox)
    refused = admin_client.post(
        "/api/v1/inboxes",
        json={"kind": callback["kind"], "name": "x", "settings": {"app_id": "nope", "token": "!"}},
    )
    assert refused.status_code == 422
    named = {error["field"] for error in refused.json()["errors"]}
    html = admin_client.get(f"/admin/inboxes/new/{callback['kind']}").text
    for field in named:
        assert f'name="{field}"' in html, field
        assert f'data-error-for="{field}"' in html, field
    assert 'type="password" name="settings.app_secret"' in html
    assert '<select name="settings.mode"' in html


def test_an_unknown_kind_or_inbox_is_a_404_page(admin_client):
    assert admin_client.get("/admin/inboxes/new/no_such_kind").status_code == 404
    assert admin_client.get("/admin/inboxes/not-an-id").status_code == 404
    assert admin_client.get("/admin/kb/not-an-id").status_code == 404
    assert admin_client.get("/admin/webhooks/not-an-id").status_code == 404


def test_agents_and_teams_show_roles_skills_capacity_and_members(admin_client, demo, settings):
    agents = make_agents(settings, demo["workspace_id"], [XSS, "ann"])
    ann = agents["ann"]["id"]
    assert (
        admin_client.patch(
            f"/api/v1/agents/{ann}", json={"skills": ["billing"], "max_concurrent": 3}
        ).status_code
        == 200
    )
    assert admin_client.post("/api/v1/teams", json={"name": "Support", "agent_ids": [ann]}).status_code == 201
    html = admin_client.get("/admin/agents").text
    assert XSS not in html and "&lt;script&gt;" in html
    row = html[html.index(f'data-agent-id="{ann}"') :]
    row = row[: row.index("</tr>")]
    assert 'value="3"' in row and 'value="billing"' in row and "Support" in row and ">agent<" in row
    team_form = html[html.index("<h3>Support</h3>") :]
    assert re.search(rf'value="{ann}" data-type="set" checked', team_form)


def test_the_knowledge_base_lists_edits_and_asks(admin_client):
    made = admin_client.post(
        "/api/v1/kb/articles",
        json={"title": XSS, "questions": ["where is my order"], "answer": "It ships today."},
    )
    assert made.status_code == 201, made.text
    article = made.json()["id"]
    listing = admin_client.get("/admin/kb").text
    assert XSS not in listing and f'href="/admin/kb/{article}"' in listing
    assert 'data-api="/api/v1/kb/ask"' in listing and 'data-api="/api/v1/kb/import"' in listing
    edit = admin_client.get(f"/admin/kb/{article}").text
    assert f'data-api="/api/v1/kb/articles/{article}" data-method="PATCH"' in edit
    assert "where is my order</textarea>" in edit


def test_the_knowledge_base_page_adds_and_removes_out_of_scope_examples(admin_client):
    assert (
        'data-api="/api/v1/kb/out-of-scope-examples" data-method="POST"' in admin_client.get("/admin/kb").text
    )
    made = admin_client.post("/api/v1/kb/out-of-scope-examples", json={"text": XSS, "locale": "en"})
    assert made.status_code == 201, made.text
    example = made.json()["id"]
    listing = admin_client.get("/admin/kb").text
    assert XSS not in listing and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    assert f'data-api="/api/v1/kb/out-of-scope-examples/{example}" data-method="DELETE"' in listing


def test_webhooks_show_the_delivery_log_with_response_codes_and_replay(admin_client, demo, settings):
    created = admin_client.post(
        "/api/v1/webhooks", json={"url": "https://receiver.example.com/hook", "events": ["message.created"]}
    )
    assert created.status_code == 201, created.text
    subscription = created.json()["id"]

    async def deliver(hub) -> str:
        async with hub.database.session() as session:
            row = (
                await session.exec(select(WebhookSubscription).where(WebhookSubscription.id == subscription))
            ).one()
            delivery = WebhookDelivery(
                workspace_id=row.workspace_id,
                subscription_id=row.id,
                event_id="evt-1",
                event_type="message.created",
                sequence=1,
                body="{}",
                status="failed",
                attempts=2,
                log=[
                    {
                        "at": "2026-11-16T10:00:00+00:00",
                        "status_code": 503,
                        "error": None,
                        "duration_ms": 5,
                        "response": "",
                    },
                    {
                        "at": "2026-11-16T10:01:00+00:00",
                        "status_code": 418,
                        "error": None,
                        "duration_ms": 5,
                        "response": "",
                    },
                ],
            )
            session.add(delivery)
            await session.commit()
            return delivery.id

    delivery = run(deliver, settings)
    assert "https://receiver.example.com/hook" in admin_client.get("/admin/webhooks").text
    html = admin_client.get(f"/admin/webhooks/{subscription}").text
    row = html[html.index(f'data-delivery-id="{delivery}"') :]
    assert ">503<" in row and ">418<" in row and "failed" in row
    assert f'data-api="/api/v1/webhooks/{subscription}/deliveries/{delivery}/redeliver"' in row


def test_reports_show_the_figures_as_svg_charts_and_tables_with_csv_links(admin_client, seeded):  # noqa: F811
    day = RANGE["from"][:10]
    html = admin_client.get("/admin/reports", params={"since": day, "until": day}).text
    per_channel = html[html.index('id="per-channel"') : html.index('id="times"')]
    assert "<polyline" in per_channel and f"<td>{day}</td>" in per_channel
    assert re.search(r"<th>email</th>", per_channel) and re.search(r'<td class="number">5</td>', per_channel)
    times = html[html.index('id="times"') : html.index('id="bot"')]
    assert "2.5 min" in times or "3.0 min" in times, "first response P50 of 1, 2, 3, 4, 10 minutes"
    bot = html[html.index('id="bot"') : html.index('id="csat"')]
    assert "50.0 %" in bot, "one of the two conversations the bot replied in was resolved without an agent"
    csat = html[html.index('id="csat"') : html.index('id="agents"')]
    assert csat.count('<rect class="bar"') == 5
    agents = html[html.index('id="agents"') :]
    assert "<td>ann</td>" in agents and "<td>bob</td>" in agents
    assert 'href="/api/v1/reports/export?report=summary&amp;from=' in html
    only_email = admin_client.get(
        "/admin/reports", params={"since": day, "until": day, "channel": "email"}
    ).text
    table = only_email[only_email.index('id="per-channel"') : only_email.index('id="times"')]
    assert "<th>email</th>" in table and "<th>webchat</th>" not in table
    assert "channel=email" in only_email


@pytest.mark.parametrize(
    ("since", "until", "problem"),
    [
        ("yesterday", "", "YYYY-MM-DD"),
        ("2026-11-20", "2026-11-10", "start before it ends"),
        ("2020-01-01", "2026-01-01", "at most 366 days"),
    ],
)
def test_a_bad_report_range_is_explained_and_a_sane_one_shown(admin_client, since, until, problem):
    answer = admin_client.get("/admin/reports", params={"since": since, "until": until})
    assert answer.status_code == 200
    assert problem in answer.text and 'role="alert"' in answer.text


def test_language_and_theme_follow_the_browser_unless_a_cookie_says(admin_client):
    chinese = admin_client.get("/admin/inboxes", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text
    assert '<html lang="zh-CN">' in chinese and "接入渠道" in chinese
    admin_client.cookies.set("omnihub_lang", "en")
    admin_client.cookies.set("omnihub_theme", "dark")
    english = admin_client.get("/admin/inboxes", headers={"Accept-Language": "zh-CN"}).text
    assert '<html lang="en" data-theme="dark">' in english and "Connect a channel" in english
    admin_client.cookies.set("omnihub_theme", "<b>")
    assert '<html lang="en">' in admin_client.get("/admin/inboxes").text


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en-US,en;q=0.9", "en"),
        ("fr;q=1,zh-TW;q=0.5", "zh-CN"),
        ("en;q=0.2,zh;q=0.8", "zh-CN"),
        ("", "en"),
        ("de", "en"),
    ],
)
def test_the_browser_language_is_read_by_preference(header, language):
    assert chosen_language(None, header) == language


def test_bar_heights_are_proportional_under_a_round_top():
    chart = bar_chart([("1", 2), ("2", 5), ("3", 0)])
    heights = [bar.height for bar in chart.bars]
    assert heights[1] == pytest.approx(chart.baseline - 12) and heights[0] == pytest.approx(
        heights[1] * 2 / 5
    )
    assert heights[2] == 0 and [tick.value for tick in chart.ticks] == [0, 2.5, 5]
    assert bar_chart([("a", 0)]).bars[0].height == 0, "an all-zero chart draws no bar and divides by nothing"


def test_lines_have_a_point_per_category_and_at_most_about_ten_labels():
    days = [f"2026-11-{day:02d}" for day in range(1, 31)]
    chart = line_chart(days, {"a": list(range(30)), "b": [0] * 30})
    assert [len(line.points.split()) for line in chart.lines] == [30, 30]
    assert len(chart.labels) <= 10 and chart.lines[0].color != chart.lines[1].color
    first, last = chart.lines[0].points.split()[0], chart.lines[0].points.split()[-1]
    assert float(first.split(",")[1]) == chart.baseline and float(last.split(",")[1]) < chart.baseline


def test_an_admin_of_another_workspace_sees_none_of_this_ones(client, demo, settings):
    other_admin = token_of_another_workspace(
        settings, workspace="Other shop", email="boss@other.test", role="admin"
    )
    client.cookies.set("omnihub_session", other_admin)
    webchat = inbox_of(demo, "webchat")
    assert client.get(f"/admin/inboxes/{webchat['id']}").status_code == 404
    listing = client.get("/admin/inboxes")
    assert (
        listing.status_code == 200
        and webchat["id"] not in listing.text
        and webchat["name"] not in listing.text
    )
    assert demo["admin_email"] not in client.get("/admin/agents").text


def test_the_business_hours_form_names_the_weekdays_in_the_pages_language(admin_client, demo):
    page = f"/admin/inboxes/{inbox_of(demo, 'webchat')['id']}"
    chinese = admin_client.get(page, headers={"Accept-Language": "zh-CN"}).text
    assert "星期一" in chinese and "星期日" in chinese and ">mon <" not in chinese
    english = admin_client.get(page, headers={"Accept-Language": "en"}).text
    assert "Monday" in english and "Sunday" in english
