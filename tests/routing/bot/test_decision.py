"""The decision: answer only with a confident, clear lead; suggest a plausible few; otherwise abstain."""

from __future__ import annotations

import pytest

from routing.bot import BotAnswer, ScoredArticle, Thresholds, decide

THRESHOLDS = Thresholds(answer_at=0.6, suggest_at=0.3, answer_lead=0.1, max_suggestions=3)


def scored(*scores: float) -> list[ScoredArticle]:
    return [ScoredArticle(f"a{number}", f"Article {number}", score) for number, score in enumerate(scores)]


def test_nothing_matched_abstains_with_score_zero() -> None:
    assert decide([], THRESHOLDS) == BotAnswer("abstain", None, 0.0)


def test_a_weak_best_match_abstains() -> None:
    assert decide(scored(0.29, 0.1), THRESHOLDS) == BotAnswer("abstain", None, 0.29)


def test_a_confident_match_with_a_clear_lead_is_answered() -> None:
    assert decide(scored(0.8, 0.69), THRESHOLDS) == BotAnswer("answer", "a0", 0.8)


def test_a_confident_match_without_a_clear_lead_becomes_suggestions() -> None:
    result = decide(scored(0.8, 0.75, 0.2), THRESHOLDS)
    assert result.decision == "suggest" and result.article_id is None
    assert [suggestion.article_id for suggestion in result.suggestions] == ["a0", "a1"]


def test_a_plausible_match_offers_at_most_the_configured_number_of_suggestions() -> None:
    result = decide(scored(0.5, 0.45, 0.4, 0.35), THRESHOLDS)
    assert result.decision == "suggest"
    assert [suggestion.score for suggestion in result.suggestions] == [0.5, 0.45, 0.4]


@pytest.mark.parametrize(
    "settings",
    [
        {"answer_at": 0.3, "suggest_at": 0.5},
        {"answer_at": 1.5},
        {"suggest_at": -0.1},
        {"answer_lead": 2.0},
        {"max_suggestions": 0},
    ],
)
def test_inconsistent_thresholds_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Thresholds(**settings)
