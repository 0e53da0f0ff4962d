"""The confidence model: a probability that grows with agreement, falls to 0 without it, and falls with
the share of the question in words no article has."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routing.bot import DEFAULT_CONFIDENCE_MODEL, Evidence
from routing.bot.termspace import Coverage

shares = st.floats(min_value=0.0, max_value=1.0)


def evidence(agreement: float, unknown_share: float = 0.0, same_language: bool = True) -> Evidence:
    return Evidence(Coverage(agreement, agreement), unknown_share, same_language)


def test_no_agreement_is_no_confidence() -> None:
    assert DEFAULT_CONFIDENCE_MODEL.confidence(evidence(0.0)) == 0.0


def test_a_faint_agreement_is_far_below_any_threshold() -> None:
    assert DEFAULT_CONFIDENCE_MODEL.confidence(evidence(0.05)) < 0.01


def test_a_question_matching_a_phrasing_word_for_word_is_near_certain() -> None:
    assert DEFAULT_CONFIDENCE_MODEL.confidence(evidence(1.0)) > 0.95


@given(shares, shares, shares)
def test_confidence_is_a_probability_growing_with_agreement(
    first: float, second: float, unknown: float
) -> None:
    low, high = sorted((first, second))
    low_confidence = DEFAULT_CONFIDENCE_MODEL.confidence(evidence(low, unknown))
    assert 0.0 <= low_confidence <= DEFAULT_CONFIDENCE_MODEL.confidence(evidence(high, unknown)) <= 1.0


@given(st.floats(min_value=0.01, max_value=1.0), shares, shares)
def test_words_no_article_has_lower_the_confidence(agreement: float, first: float, second: float) -> None:
    less, more = sorted((first, second))
    assert DEFAULT_CONFIDENCE_MODEL.confidence(
        evidence(agreement, more)
    ) <= DEFAULT_CONFIDENCE_MODEL.confidence(evidence(agreement, less))


def test_an_article_in_another_language_keeps_half_its_agreement() -> None:
    assert evidence(0.8, same_language=False).agreement == evidence(0.4).agreement
    assert DEFAULT_CONFIDENCE_MODEL.confidence(
        evidence(0.8, same_language=False)
    ) < DEFAULT_CONFIDENCE_MODEL.confidence(evidence(0.8))
