"""Analysis: Chinese segmented, English stemmed without stop words, mixed text, the business's synonyms."""

from __future__ import annotations

from routing.bot.analysis import MAX_QUESTION_TERMS, Analyzer, dominant_language
from routing.bot.folding import fold
from routing.bot.lexicon import COMMON_SYNONYMS


def terms(text: str, synonyms: list[list[str]] | None = None) -> set[str]:
    return set(Analyzer(synonyms or []).analyze(text).terms)


def test_chinese_is_segmented_into_words_and_the_words_inside_compounds() -> None:
    assert terms("实木餐桌可以放在阳台吗") >= {"实木", "餐桌", "阳台"}
    assert terms("中华人民共和国") >= {"人民", "共和国", "中华人民共和国"}


def test_chinese_particles_are_dropped() -> None:
    assert not terms("实木餐桌可以放在阳台吗") & {"吗", "可以"}


def test_english_is_stemmed_and_stop_words_are_dropped() -> None:
    assert terms("The chairs were delivered") == {"chair", "deliv"}


def test_mixed_text_keeps_both_languages_and_counts_as_the_one_it_is_mostly_written_in() -> None:
    analysis = Analyzer().analyze("我的桌子怎么polish")
    assert {"桌子", "polish"} <= set(analysis.terms)
    assert analysis.language == "zh"
    assert Analyzer().analyze("how do I track 桌子").language == "en"


def test_text_without_words_has_no_language() -> None:
    assert dominant_language(fold("123 ??? 😀")) is None
    assert Analyzer().analyze("").terms == {}


def test_a_synonym_group_makes_its_phrases_one_term_in_either_language() -> None:
    synonyms = [["橡木", "oak"]]
    assert terms("橡木桌子", synonyms) & terms("oak tables", synonyms)
    assert not terms("橡木桌子") & terms("oak tables")


def test_irregular_past_forms_meet_their_verb() -> None:
    assert terms("I paid twice") == terms("pay twice")
    assert terms("the lamp broke") == terms("the lamp is broken") == terms("the lamp will break")
    assert terms("I bought a sofa") == terms("buy a sofa")


def test_filler_words_carry_no_topic() -> None:
    assert terms("我现在大概一般已经想退货") == terms("退货")
    assert terms("I actually don't want it anymore now") == set()


def test_synonyms_match_inflected_english_words() -> None:
    assert terms("gizmos", [["widget", "gizmo"]]) == terms("a widget", [["widget", "gizmo"]])


def test_a_business_group_sharing_a_term_with_a_built_in_group_joins_it() -> None:
    assert terms("返现", [["返现", "refund"]]) == terms("退款", [["返现", "refund"]])


def test_built_in_groups_stay_apart_and_lose_no_phrase() -> None:
    analyzer = Analyzer()
    concepts_per_group = []
    for group in COMMON_SYNONYMS:
        concepts = {frozenset(analyzer.analyze(phrase).terms) for phrase in group}
        assert len(concepts) == 1, group
        concepts_per_group.append(concepts.pop())
    assert len(set(concepts_per_group)) == len(COMMON_SYNONYMS)


def test_a_question_keeps_a_bounded_number_of_terms() -> None:
    question = " ".join(f"word{number}" for number in range(1000))
    assert len(Analyzer().analyze_question(question).terms) == MAX_QUESTION_TERMS
