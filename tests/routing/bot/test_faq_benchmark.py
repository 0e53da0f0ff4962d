"""The engine on the benchmark's fixed FAQ data set: a regression in answer quality fails the suite.

The engine is deterministic, so its accuracy on fixed data is a property of the code, not a timing.
The floors asserted are the figures reached on the two held-out parts (benchmarks/RESULTS.md, "Bot
answers"). The issue's targets (90 % top-1, 85 % correct abstains) are not reached on either by
lexical matching: the second part, written before the engine saw it, is the honest measure.
"""

from __future__ import annotations

import pytest

from benchmarks.bot_faq import (
    CEILING_ABSTAIN,
    Questions,
    Score,
    ceiling,
    cross_validate,
    fit_confidence_model,
    load_articles,
    load_questions,
    load_synonyms,
    score,
    tune_thresholds,
)
from routing.bot import DEFAULT_CONFIDENCE_MODEL, DEFAULT_THRESHOLDS, BotIndex, ScoredArticle


@pytest.fixture(scope="module")
def faq_index() -> BotIndex:
    return BotIndex.build(load_articles(), load_synonyms())


@pytest.fixture(scope="module")
def held_out(faq_index: BotIndex) -> Score:
    return score(faq_index.ask, load_questions("held-out"))


@pytest.fixture(scope="module")
def second_held_out(faq_index: BotIndex) -> Score:
    return score(faq_index.ask, load_questions("held-out-2"))


def test_held_out_questions_are_answered_as_well_as_measured(held_out: Score, second_held_out: Score) -> None:
    assert held_out.top1 >= 0.81
    assert held_out.answered_wrong <= 0.065
    assert second_held_out.top1 >= 0.76
    assert second_held_out.answered_wrong <= 0.055


def test_held_out_out_of_scope_questions_are_abstained_on_as_measured(
    held_out: Score, second_held_out: Score
) -> None:
    assert held_out.correct_abstain >= 0.77
    assert second_held_out.correct_abstain >= 0.63


def test_handoff_phrases_of_the_held_out_parts_are_recognised_as_measured(
    held_out: Score, second_held_out: Score
) -> None:
    assert held_out.handoff_detected == 1.0
    assert second_held_out.handoff_detected >= 0.85
    assert held_out.handoff_false_alarms == second_held_out.handoff_false_alarms == 0.0


def test_the_default_confidence_model_and_thresholds_are_the_ones_fitted_on_the_tuning_part(
    faq_index: BotIndex,
) -> None:
    tuning = load_questions("tuning")
    assert fit_confidence_model(faq_index.candidates, tuning) == DEFAULT_CONFIDENCE_MODEL
    assert tune_thresholds(faq_index.ranked, tuning)[0] == DEFAULT_THRESHOLDS


def test_cross_validation_scores_every_tuning_question_once_on_a_model_fitted_without_it() -> None:
    tuning = load_questions("tuning")
    result = cross_validate(load_articles(), load_synonyms(), tuning)
    in_scope_missed = round((1 - result.top1) * len(tuning.answer))
    out_of_scope_missed = round((1 - result.correct_abstain) * len(tuning.out_of_scope))
    assert len(result.misses) == in_scope_missed + out_of_scope_missed
    assert sum("out of scope" in miss for miss in result.misses) == out_of_scope_missed
    assert result.top1 >= 0.91
    assert result.answered_wrong <= 0.045
    assert result.correct_abstain >= 0.90


def test_cross_validation_with_shuffled_folds_scores_every_tuning_question_once() -> None:
    tuning = load_questions("tuning")
    result = cross_validate(load_articles(), load_synonyms(), tuning, seed=7)
    in_scope_missed = round((1 - result.top1) * len(tuning.answer))
    out_of_scope_missed = round((1 - result.correct_abstain) * len(tuning.out_of_scope))
    assert len(result.misses) == in_scope_missed + out_of_scope_missed
    assert result.top1 >= 0.9
    assert result.correct_abstain >= 0.85


def test_the_data_set_is_as_large_as_the_issue_asks() -> None:
    articles = load_articles()
    parts = [load_questions("tuning"), load_questions("held-out"), load_questions("held-out-2")]
    assert len({article.id.rsplit("-", 1)[0] for article in articles}) >= 30
    assert sum(len(part.answer) for part in parts) >= 150
    assert sum(len(part.out_of_scope) for part in parts) >= 30
    chinese = sum(
        any("\u4e00" <= char <= "\u9fff" for char in text) for part in parts for text, _ in part.answer
    )
    assert chinese >= sum(len(part.answer) for part in parts) / 2
    assert {expected for part in parts for _, expected in part.answer} <= {article.id for article in articles}


def test_no_thresholds_tuned_on_a_part_beat_its_ceiling(faq_index: BotIndex) -> None:
    tuning = load_questions("tuning")
    as_shipped = score(faq_index.ask, tuning)
    bound = ceiling(faq_index.ranked, tuning)
    assert bound.best_thresholds is not None
    assert bound.best_thresholds.correct_abstain >= CEILING_ABSTAIN
    assert bound.best_thresholds.top1 >= as_shipped.top1
    assert 0.9 < bound.separability <= 1.0


def test_separability_is_one_when_a_cut_off_parts_in_scope_from_out_of_scope_and_half_when_nothing_does() -> (
    None
):
    questions = Questions(answer=[("in one", "a"), ("in two", "a")], out_of_scope=["out one", "out two"])

    def parted(text: str) -> tuple[ScoredArticle, ...]:
        return (ScoredArticle("a", "A", 0.9 if text.startswith("in") else 0.2),)

    def level(text: str) -> tuple[ScoredArticle, ...]:
        return (ScoredArticle("a", "A", 0.6),)

    assert ceiling(parted, questions).separability == 1.0
    assert ceiling(parted, questions).best_thresholds.top1 == 1.0  # type: ignore[union-attr]
    assert ceiling(level, questions).separability == 0.5
    assert ceiling(level, questions).best_thresholds.top1 == 0.0  # type: ignore[union-attr]
