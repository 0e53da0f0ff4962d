"""The index and `ask`: bilingual matching, locale, synonyms, out-of-scope questions, updates, sharing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.bot_faq.padding import padding_articles
from routing.bot import DEFAULT_CONFIDENCE_MODEL, Article, BotIndex

SHIPPING_ZH = Article(
    "shipping-zh",
    "配送时间",
    ("下单后多久能收到货", "一般几天送到", "什么时候发货"),
    "现货商品付款后24小时内发货，一般2到4天送达。",
    "zh-CN",
    ("配送",),
)
SHIPPING_EN = Article(
    "shipping-en",
    "Delivery times",
    ("How long does delivery take?", "When will my order arrive?"),
    "In-stock items leave within 24 hours and arrive in 2-4 days.",
    "en",
    ("shipping",),
)
RETURNS_ZH = Article(
    "returns-zh",
    "退货政策",
    ("怎么退货", "收到货不满意能退吗", "退货流程是什么"),
    "收货后30天内可以无理由退货，在“我的订单”中申请。",
    "zh-CN",
)
RETURNS_EN = Article(
    "returns-en",
    "Return policy",
    ("How do I return an item?", "What is your return policy?"),
    "Unused items can be returned within 30 days; start from My Orders.",
    "en",
)
HOURS_EN = Article(
    "hours-en",
    "Customer service hours",
    ("What are your opening hours?", "When is support available?"),
    "Our chat support is staffed every day from 9:00 to 21:00.",
    "en",
)
PASSWORD_EN = Article(
    "password-en",
    "Forgotten password",
    ("I forgot my password", "How do I reset my password?"),
    "Choose Forgot password on the login page and follow the code we text you.",
    "en",
)
OAK_CARE_EN = Article(
    "oak-care-en",
    "Oak care",
    ("How do I look after the Fjord table?",),
    "Oil the Fjord table twice a year.",
    "en",
)
ARTICLES = [SHIPPING_ZH, SHIPPING_EN, RETURNS_ZH, RETURNS_EN, HOURS_EN, PASSWORD_EN, OAK_CARE_EN]
BOT = BotIndex.build(ARTICLES)
"""Shared by the property tests, which cannot take a fixture; immutable, like the `index` fixture."""
WELL_MATCHED = [
    ("下单后多久能收到货", "shipping-zh"),
    ("What is your return policy?", "returns-en"),
    ("When is support available?", "hours-en"),
    ("I forgot my password", "password-en"),
]


@pytest.fixture(scope="module")
def index() -> BotIndex:
    return BOT


@pytest.mark.parametrize(
    ("question", "article_id"),
    [
        ("我昨天下的单什么时候能到？", "shipping-zh"),
        ("how soon will my order arrive", "shipping-en"),
        ("東西不滿意，可以退貨嗎", "returns-zh"),
        ("ＨＯＷ　ＬＯＮＧ　ＤＯＥＳ　ＤＥＬＩＶＥＲＹ　ＴＡＫＥ", "shipping-en"),
        ("😀 I forgot my password!! 🙏 https://shop.example/login", "password-en"),
        ("我的order几天能送到", "shipping-zh"),
    ],
)
def test_well_matched_questions_are_answered_in_their_language(
    index: BotIndex, question: str, article_id: str
) -> None:
    result = index.ask(question)
    assert (result.decision, result.article_id) == ("answer", article_id)
    assert 0 < result.score <= 1


@pytest.mark.parametrize(
    "question",
    [
        "今天天气怎么样",
        "tell me a joke",
        "asdkjh qwe zzz",
        "how do I renew my passport",
        "你好",
        "ok",
        "",
        "   ",
        "😀😀😀",
        "https://example.com",
        "123456",
    ],
)
def test_out_of_scope_questions_abstain(index: BotIndex, question: str) -> None:
    result = index.ask(question)
    assert (result.decision, result.article_id, result.suggestions) == ("abstain", None, ())


def test_a_question_sharing_only_a_word_with_an_article_abstains(index: BotIndex) -> None:
    assert index.ask("how long does it take to boil an egg").decision == "abstain"


def test_a_question_about_another_business_abstains_though_it_contains_a_whole_phrasing() -> None:
    question = "what are the opening hours of the swimming pool"
    [hours, *_] = BOT.candidates(question)
    assert (hours.article_id, hours.evidence.coverage.phrasing) == ("hours-en", 1.0)
    assert hours.evidence.unknown_share > 0.5
    assert BOT.ask(question).decision == "abstain"
    blind_to_unknown_words = replace(DEFAULT_CONFIDENCE_MODEL, unknown_share_weight=0.0)
    assert (
        BotIndex.build(ARTICLES, confidence_model=blind_to_unknown_words).ask(question).article_id
        == "hours-en"
    )


def test_candidates_carry_the_evidence_their_confidence_is_computed_from(index: BotIndex) -> None:
    evidence = {
        candidate.article_id: candidate.evidence for candidate in index.candidates("how do i return an item")
    }
    assert evidence["returns-en"].coverage.question == 1.0
    assert evidence["returns-en"].unknown_share == 0.0
    assert evidence["returns-en"].same_language
    ranked = {candidate.article_id: candidate.score for candidate in index.ranked("how do i return an item")}
    assert ranked["returns-en"] == index.confidence_model.confidence(evidence["returns-en"])


def test_a_huge_question_is_answered_like_its_beginning(index: BotIndex) -> None:
    assert index.ask("How do I reset my password? " + "blah " * 50_000).article_id == "password-en"


def test_the_locale_filter_considers_only_articles_in_that_language(index: BotIndex) -> None:
    assert index.ask("怎么退货", locale="zh-TW").article_id == "returns-zh"
    assert [candidate.article_id for candidate in index.ranked("怎么退货", locale="en")] == ["returns-en"]
    assert index.ranked("how long does delivery take", locale="fr") == ()


def test_of_two_matching_articles_the_one_in_the_question_language_wins() -> None:
    bilingual = BotIndex.build(ARTICLES, synonyms=[["退货", "return"]])
    assert bilingual.ask("what is the return policy").article_id == "returns-en"
    assert bilingual.ask("退货政策是什么").article_id == "returns-zh"


def test_synonyms_the_business_adds_reach_articles_worded_otherwise() -> None:
    assert BotIndex.build(ARTICLES).ask("what are your trading hours").decision == "abstain"
    with_synonyms = BotIndex.build(ARTICLES, synonyms=[["opening hours", "trading hours"]])
    assert with_synonyms.ask("what are your trading hours").article_id == "hours-en"


def test_disabled_articles_are_never_chosen() -> None:
    disabled = BotIndex.build([*ARTICLES[:-2], replace(PASSWORD_EN, enabled=False)])
    assert "password-en" not in disabled
    assert disabled.ask("I forgot my password").decision == "abstain"


def test_repeated_article_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="article ids repeated: returns-en"):
        BotIndex.build([*ARTICLES, RETURNS_EN])


def test_updates_give_a_new_index_and_leave_the_old_one_as_it_was(index: BotIndex) -> None:
    gift_cards = Article(
        "gift-cards-en", "Gift cards", ("Do you sell gift cards?",), "Yes, from 100 to 2000 yuan.", "en"
    )
    updated = index.updated(upserts=[gift_cards], removed_ids=["password-en"])
    assert updated.ask("can I buy a gift card").article_id == "gift-cards-en"
    assert updated.ask("I forgot my password").decision == "abstain"
    assert index.ask("can I buy a gift card").decision == "abstain"
    assert index.ask("I forgot my password").article_id == "password-en"


def test_an_edited_or_disabled_article_takes_effect_in_the_updated_index(index: BotIndex) -> None:
    edited = replace(HOURS_EN, questions=("When are you open?", "Are you open on Sundays?"))
    assert index.updated(upserts=[edited]).ask("are you open on sundays").article_id == "hours-en"
    assert "hours-en" not in index.updated(upserts=[replace(HOURS_EN, enabled=False)])


def test_an_updated_index_answers_as_one_built_from_scratch(index: BotIndex) -> None:
    extra = padding_articles(20)
    updated = index.updated(upserts=extra, removed_ids=["hours-en"])
    rebuilt = BotIndex.build([*ARTICLES[:4], *ARTICLES[5:], *extra])
    for question in ["怎么退货", "when will my order arrive", "How big is the Oslo sofa?", "opening hours"]:
        assert updated.ranked(question) == rebuilt.ranked(question)


def test_one_index_serves_many_threads_with_the_same_answers(index: BotIndex) -> None:
    questions = ["怎么退货", "when will my order arrive", "I forgot my password", "今天天气怎么样"] * 50
    expected = [index.ask(question) for question in questions]
    with ThreadPoolExecutor(max_workers=8) as threads:
        assert list(threads.map(index.ask, questions)) == expected


@given(st.text(), st.sampled_from([None, "en", "zh-CN", "fr", "", "zh_TW"]))
def test_ask_never_raises_and_answers_in_the_promised_shape(text: str, locale: str | None) -> None:
    result = BOT.ask(text, locale)
    assert result.decision in ("answer", "suggest", "abstain")
    assert 0 <= result.score <= 1
    assert (result.article_id in BOT) if result.decision == "answer" else result.article_id is None
    assert (1 <= len(result.suggestions) <= 3) if result.decision == "suggest" else result.suggestions == ()
    assert [suggestion.score for suggestion in result.suggestions] == sorted(
        (suggestion.score for suggestion in result.suggestions), reverse=True
    )


@given(st.lists(st.sampled_from(padding_articles(200)), max_size=30, unique_by=lambda article: article.id))
def test_adding_unrelated_articles_does_not_change_the_answer_to_a_well_matched_question(
    unrelated: list[Article],
) -> None:
    grown = BOT.updated(upserts=unrelated)
    for question, article_id in WELL_MATCHED:
        assert grown.ask(question).article_id == article_id
