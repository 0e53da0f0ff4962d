"""From ranked candidates to what the bot does: answer, offer suggestions, or abstain.

A bot that answers wrongly with confidence is worse than none, so answering needs both a high
confidence and a clear lead over the next article; a plausible but unclear match becomes a
"did you mean" list the customer chooses from; anything weaker is left to a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_THRESHOLDS", "BotAnswer", "Decision", "ScoredArticle", "Thresholds", "decide"]

Decision = Literal["answer", "suggest", "abstain"]


@dataclass(frozen=True, slots=True)
class ScoredArticle:
    """An article that matched a question, with the engine's confidence in it, from 0 to 1."""

    article_id: str
    title: str
    score: float


@dataclass(frozen=True, slots=True)
class BotAnswer:
    """The shape `POST /api/v1/kb/ask` serves: the article to answer with, or suggestions, or neither.

    `score` is the top candidate's confidence (0 when nothing matched); `suggestions` is filled
    only for "suggest", best first.
    """

    decision: Decision
    article_id: str | None
    score: float
    suggestions: tuple[ScoredArticle, ...] = ()


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Confidence cut-offs. The defaults are what `benchmarks/bot_answers.py --tune` chose on the tuning part
    of the benchmark's FAQ set, with the default confidence model: the most right first articles with
    at least 90 % of out-of-scope questions abstained on and at most 3 % answered wrongly.

    answer_at: the least confidence to answer at once; suggest_at: the least to be offered at all;
    answer_lead: how far the top article must be ahead of the second to answer rather than suggest;
    max_suggestions: the length of a "did you mean" list.
    """

    answer_at: float = 0.5
    suggest_at: float = 0.48
    answer_lead: float = 0.02
    max_suggestions: int = 3

    def __post_init__(self) -> None:
        if not 0 <= self.suggest_at <= self.answer_at <= 1:
            raise ValueError("thresholds must satisfy 0 <= suggest_at <= answer_at <= 1")
        if not 0 <= self.answer_lead <= 1 or self.max_suggestions < 1:
            raise ValueError("answer_lead must lie in [0, 1] and max_suggestions be at least 1")


DEFAULT_THRESHOLDS = Thresholds()


def decide(candidates: Sequence[ScoredArticle], thresholds: Thresholds = DEFAULT_THRESHOLDS) -> BotAnswer:
    """The decision for candidates ranked best first."""
    if not candidates or candidates[0].score < thresholds.suggest_at:
        return BotAnswer("abstain", None, round(candidates[0].score, 4) if candidates else 0.0)
    top = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    if top.score >= thresholds.answer_at and top.score - runner_up >= thresholds.answer_lead:
        return BotAnswer("answer", top.article_id, round(top.score, 4))
    offered = [
        candidate
        for candidate in candidates[: thresholds.max_suggestions]
        if candidate.score >= thresholds.suggest_at
    ]
    return BotAnswer(
        "suggest",
        None,
        round(top.score, 4),
        tuple(
            ScoredArticle(candidate.article_id, candidate.title, round(candidate.score, 4))
            for candidate in offered
        ),
    )
