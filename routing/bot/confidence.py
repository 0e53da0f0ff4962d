"""How likely an article is the right answer to a question, from what the ranking found.

Two signals decide it. How well the question and the article agree (`Coverage.agreement`): a
question that shares only a word or two with an article covers little of it, and the confidence
falls to 0 with the agreement (the model sees its logarithm). And how much of the
question is in words no article has: a question about another business ("what time does the
swimming pool open") can contain a whole phrasing ("what time do you open") and still be out of
scope, and its foreign words give it away. A logistic model turns both into a probability; its
coefficients are fitted on the tuning part of the benchmark's questions
(`benchmarks/bot_answers.py --tune`), so a score of 0.8 means about four in five such answers were
right there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from routing.bot.termspace import Coverage

__all__ = ["DEFAULT_CONFIDENCE_MODEL", "OTHER_LANGUAGE_FACTOR", "ConfidenceModel", "Evidence", "logistic"]

OTHER_LANGUAGE_FACTOR = 0.5
"""Share of agreement kept by an article in another language than the question's: it can still be offered
when it is the only match (a bilingual synonym, a product name), but loses to its same-language twin."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the ranking found about one candidate article for one question."""

    coverage: Coverage
    unknown_share: float
    """The share of the question's weight in terms no article has (the same for every candidate)."""
    same_language: bool
    """Whether the article is in the question's language (or either has none)."""

    @property
    def agreement(self) -> float:
        """The coverage's agreement, marked down for an article in another language."""
        return self.coverage.agreement * (1.0 if self.same_language else OTHER_LANGUAGE_FACTOR)


@dataclass(frozen=True, slots=True)
class ConfidenceModel:
    """The coefficients of the logistic model: the log-odds are `intercept + log(agreement) * log_agreement_weight
    + unknown_share * unknown_share_weight`."""

    intercept: float
    log_agreement_weight: float
    unknown_share_weight: float

    def confidence(self, evidence: Evidence) -> float:
        """The probability, from 0 to 1, that the article is the right answer; 0 when nothing matched."""
        if not evidence.agreement:
            return 0.0
        return logistic(
            self.intercept
            + self.log_agreement_weight * math.log(evidence.agreement)
            + self.unknown_share_weight * evidence.unknown_share
        )


def logistic(log_odds: float) -> float:
    """The probability of `log_odds`, without overflowing however large they are."""
    if log_odds >= 0:
        return 1 / (1 + math.exp(-log_odds))
    odds = math.exp(log_odds)
    return odds / (1 + odds)


DEFAULT_CONFIDENCE_MODEL = ConfidenceModel(
    intercept=3.71, log_agreement_weight=3.42, unknown_share_weight=-1.77
)
