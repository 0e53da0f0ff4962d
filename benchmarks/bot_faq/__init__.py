"""The bot benchmark's data set (a bilingual FAQ of a made-up shop) and how the engine is scored on it.

The files beside this module are meant to be read and edited by people: articles and synonyms in
TOML, test questions in CSV (one per line: kind, text, expected). The questions are split once
and for all into a tuning part, the only one anything may be chosen on, and held-out parts.
The first held-out part was read during the engine's first development (its misses are published
in RESULTS.md), so the second was written, and committed, before the engine was run on it. Both were
written by the engine's authors; the third and fourth were written blind, each by another author who read
only the articles, and committed before any engine ran on them. The third and the fourth have each judged
the shipped engines once (RESULTS.md).
"""

from __future__ import annotations

import csv
import math
import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, get_args

from routing.bot import (
    Article,
    BotAnswer,
    BotIndex,
    Candidate,
    ConfidenceModel,
    Evidence,
    HandoffReason,
    ScoredArticle,
    Thresholds,
    decide,
    detect_handoff,
)
from routing.bot.confidence import logistic
from routing.bot.semantic import (
    OutOfScopeExample,
    SemanticCandidate,
    SemanticConfidenceModel,
    SemanticIndex,
    features,
)

__all__ = [
    "CEILING_ABSTAIN",
    "FAQ_DIR",
    "Ceiling",
    "Questions",
    "Score",
    "asking_with_examples",
    "ceiling",
    "cross_validate",
    "fit_confidence_model",
    "fit_semantic_model",
    "grounding_with_examples",
    "load_articles",
    "load_questions",
    "load_synonyms",
    "score",
    "semantic_fitter",
    "similarity_scale",
    "tune_thresholds",
]

_Outcome = TypeVar("_Outcome")

Fitter = Callable[["Questions"], Callable[[str], BotAnswer]]
"""Fits an engine's confidence model and thresholds on some questions, and gives its `ask`."""

RIDGE = 1.0
"""L2 penalty on the confidence model's weights (not its intercept): keeps them moderate on a few hundred questions."""

FAQ_DIR = Path(__file__).resolve().parent
Split = Literal["tuning", "held-out", "held-out-2", "held-out-3", "held-out-4"]


@dataclass(frozen=True)
class Questions:
    """One part of the test questions, by what the bot should do with them."""

    answer: list[tuple[str, str]] = field(default_factory=list)
    """(question, id of the article that answers it)"""
    out_of_scope: list[str] = field(default_factory=list)
    handoff: list[tuple[str, HandoffReason]] = field(default_factory=list)
    no_handoff: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Score:
    """How the engine did on one part; rates are fractions of the questions of their kind."""

    top1: float
    """In-scope questions whose first article (the answer, or the first suggestion) is the right one."""
    answered_right: float
    """In-scope questions answered at once with the right article."""
    answered_wrong: float
    """In-scope questions answered at once with a wrong article: the costly mistake."""
    suggested_right: float
    """In-scope questions where the right article is among the suggestions."""
    correct_abstain: float
    """Out-of-scope questions the engine abstained on."""
    handoff_detected: float
    """Handoff phrases detected with the right reason."""
    handoff_false_alarms: float
    """Ordinary messages containing handoff words that were taken for a handoff."""
    misses: list[str] = field(default_factory=list)
    """One line per question the engine got wrong, for reading."""


def load_articles() -> list[Article]:
    with (FAQ_DIR / "articles.toml").open("rb") as source:
        entries = tomllib.load(source)["article"]
    return [
        Article(
            id=entry["id"],
            title=entry["title"],
            questions=tuple(entry["questions"]),
            answer=entry["answer"],
            locale=entry["locale"],
            tags=tuple(entry.get("tags", ())),
        )
        for entry in entries
    ]


def load_synonyms() -> list[list[str]]:
    with (FAQ_DIR / "synonyms.toml").open("rb") as source:
        return tomllib.load(source)["groups"]


def load_questions(split: Split) -> Questions:
    questions = Questions()
    with (FAQ_DIR / f"questions-{split}.csv").open(newline="", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            kind, text, expected = row["kind"], row["text"], row["expected"]
            if kind == "answer":
                questions.answer.append((text, expected))
            elif kind == "out_of_scope":
                questions.out_of_scope.append(text)
            elif kind == "handoff":
                questions.handoff.append((text, _handoff_reason(expected)))
            elif kind == "no_handoff":
                questions.no_handoff.append(text)
            else:
                raise ValueError(f"unknown kind {kind!r} in questions-{split}.csv")
    return questions


def _handoff_reason(expected: str) -> HandoffReason:
    for reason in get_args(HandoffReason):
        if reason == expected:
            return reason
    raise ValueError(f"unknown handoff reason {expected!r}")


def score(ask: Callable[[str], BotAnswer], questions: Questions) -> Score:
    """Ask every question of `questions` and tally the outcomes."""
    misses: list[str] = []
    top1 = answered_right = answered_wrong = suggested_right = 0
    for text, expected in questions.answer:
        result = ask(text)
        first = result.article_id or (result.suggestions[0].article_id if result.suggestions else None)
        top1 += first == expected
        answered_right += result.decision == "answer" and result.article_id == expected
        answered_wrong += result.decision == "answer" and result.article_id != expected
        suggested_right += any(suggestion.article_id == expected for suggestion in result.suggestions)
        if first != expected:
            misses.append(f"{text!r}: expected {expected}, got {result.decision} {first} ({result.score})")
    abstained = 0
    for text in questions.out_of_scope:
        result = ask(text)
        abstained += result.decision == "abstain"
        if result.decision != "abstain":
            first = result.article_id or result.suggestions[0].article_id
            misses.append(f"{text!r}: out of scope, got {result.decision} {first} ({result.score})")
    detected = 0
    for text, reason in questions.handoff:
        signal = detect_handoff(text)
        detected += signal is not None and signal.reason == reason
        if signal is None or signal.reason != reason:
            misses.append(f"{text!r}: expected handoff {reason}, got {signal}")
    false_alarms = 0
    for text in questions.no_handoff:
        signal = detect_handoff(text)
        false_alarms += signal is not None
        if signal is not None:
            misses.append(f"{text!r}: not a handoff, got {signal}")
    in_scope = len(questions.answer) or 1
    return Score(
        top1 / in_scope,
        answered_right / in_scope,
        answered_wrong / in_scope,
        suggested_right / in_scope,
        abstained / (len(questions.out_of_scope) or 1),
        detected / (len(questions.handoff) or 1),
        false_alarms / (len(questions.no_handoff) or 1),
        misses,
    )


def tune_thresholds(
    ranked: Callable[[str], tuple[ScoredArticle, ...]],
    questions: Questions,
    least_abstain: float = 0.9,
    most_wrong: float = 0.03,
) -> tuple[Thresholds, Score]:
    """The thresholds that put the right article first for the most in-scope questions of `questions`
    while abstaining on at least `least_abstain` of its out-of-scope ones and answering at most `most_wrong`
    of its in-scope ones wrongly; ties go to the thresholds that answer right at once most often.

    Run on the tuning part only: the held-out part must not influence the choice. `ceiling` runs it on a
    held-out part, to bound what any thresholds could reach there.
    """
    candidates = {text: ranked(text) for text, _ in questions.answer} | {
        text: ranked(text) for text in questions.out_of_scope
    }
    in_scope = Questions(answer=questions.answer, out_of_scope=questions.out_of_scope)
    best: tuple[tuple[float, float], Thresholds, Score] | None = None
    steps = [round(step * 0.02, 2) for step in range(5, 50)]
    for answer_at in steps:
        for suggest_at in (step for step in steps if step <= answer_at):
            for answer_lead in (0.0, 0.02, 0.05, 0.08, 0.1, 0.15):
                thresholds = Thresholds(answer_at=answer_at, suggest_at=suggest_at, answer_lead=answer_lead)
                result = score(lambda text, chosen=thresholds: decide(candidates[text], chosen), in_scope)
                if result.correct_abstain < least_abstain or result.answered_wrong > most_wrong:
                    continue
                rank = (result.top1, result.answered_right)
                if best is None or rank > best[0]:
                    best = (rank, thresholds, result)
    if best is None:
        raise ValueError(
            f"no thresholds abstain on {least_abstain:.0%} of the out-of-scope questions "
            f"and answer at most {most_wrong:.0%} wrongly"
        )
    return best[1], best[2]


def fit_confidence_model(
    candidates: Callable[[str], tuple[Candidate, ...]], questions: Questions
) -> ConfidenceModel:
    """The logistic model that best predicts, from its evidence, whether the best-agreeing article of each
    question of `questions` is the right one (never, for out-of-scope questions); coefficients rounded to
    two decimals, so that the model written in code is exactly the one fitted.

    Run on the tuning part only: the held-out parts must not influence the choice.
    """
    examples: list[tuple[Evidence, bool]] = []
    for text, expected in [*questions.answer, *((text, None) for text in questions.out_of_scope)]:
        found = sorted(candidates(text), key=lambda candidate: -candidate.evidence.agreement)
        if found and found[0].evidence.agreement:
            examples.append((found[0].evidence, found[0].article_id == expected))
    intercept, log_agreement, unknown = _logistic_regression(
        [(math.log(evidence.agreement), evidence.unknown_share) for evidence, _ in examples],
        [right for _, right in examples],
    )
    return ConfidenceModel(round(intercept, 2), round(log_agreement, 2), round(unknown, 2))


def similarity_scale(
    candidates: Callable[[str], tuple[SemanticCandidate, ...]], questions: Questions
) -> tuple[float, float]:
    """The mean and standard deviation of the best similarity of each question of `questions` (in-scope and
    out-of-scope), rounded to four decimals: the constants a standardised model divides by."""
    tops = [
        max(candidate.evidence.similarity for candidate in found)
        for text in [*(text for text, _ in questions.answer), *questions.out_of_scope]
        if (found := candidates(text))
    ]
    mean = sum(tops) / len(tops)
    sd = math.sqrt(sum((top - mean) ** 2 for top in tops) / len(tops))
    return round(mean, 4), round(sd, 4)


def fit_semantic_model(
    candidates: Callable[[str], tuple[SemanticCandidate, ...]],
    questions: Questions,
    scale: tuple[float, float] = (0.0, 1.0),
) -> SemanticConfidenceModel:
    """The semantic re-ranker's logistic model, fitted on each question's best-agreeing and most similar
    candidate (whether it is the right article; never, for out-of-scope questions); coefficients rounded to two
    decimals, as `fit_confidence_model`'s. `scale` is the similarity's mean and sd the model standardises by
    (`similarity_scale`; the default leaves it as it is).

    Run on the tuning part only: the held-out parts must not influence the choice.
    """
    examples: list[tuple[float, ...]] = []
    labels: list[bool] = []
    for text, expected in [*questions.answer, *((text, None) for text in questions.out_of_scope)]:
        found = candidates(text)
        if not found:
            continue
        picked = []
        best_agreement = max(found, key=lambda candidate: candidate.evidence.agreement)
        if best_agreement.evidence.agreement > 0:
            picked.append(best_agreement)
        most_similar = max(found, key=lambda candidate: candidate.evidence.similarity)
        if most_similar not in picked:
            picked.append(most_similar)
        for candidate in picked:
            examples.append(features(candidate.evidence, *scale))
            labels.append(candidate.article_id == expected)
    weights = (round(weight, 2) for weight in _logistic_regression(examples, labels))
    return SemanticConfidenceModel(*weights, similarity_mean=scale[0], similarity_sd=scale[1])


def semantic_fitter(index: SemanticIndex, standardise: bool = False) -> Fitter:
    """Fits the re-ranker's model (`standardise`d by the fitting questions' scale) and thresholds on the questions
    given, over `index`'s embeddings; the fitted engine lists the fitting questions' out-of-scope ones as the
    workspace's out-of-scope examples."""

    def fitted(questions: Questions) -> Callable[[str], BotAnswer]:
        scale = similarity_scale(index.candidates, questions) if standardise else (0.0, 1.0)
        model = fit_semantic_model(index.candidates, questions, scale)
        ranked = SemanticIndex.build(index.lexical, index.encode, model).ranked
        thresholds, _ = tune_thresholds(ranked, questions)
        engine = SemanticIndex.build(index.lexical, index.encode, model, thresholds)
        return asking_with_examples(engine, questions.out_of_scope)

    return fitted


def asking_with_examples(index: SemanticIndex, examples: list[str]) -> Callable[[str], BotAnswer]:
    """`index.ask` with `examples` as the workspace's out-of-scope examples. A question that is one of them is
    asked with the others only: scored on the questions the examples come from, each is judged as a question the
    business had not listed."""
    return _with_examples(index, examples, SemanticIndex.ask)


def grounding_with_examples(
    index: SemanticIndex, examples: list[str]
) -> Callable[[str], tuple[ScoredArticle, ...]]:
    """`index.grounding` (the ranked candidates, none when an example vetoes the question) with `examples` as the
    workspace's out-of-scope examples, each left out when it is the question asked, as in `asking_with_examples`."""
    return _with_examples(index, examples, SemanticIndex.grounding)


def _with_examples(
    index: SemanticIndex, examples: list[str], use: Callable[[SemanticIndex, str], _Outcome]
) -> Callable[[str], _Outcome]:
    def listing(texts: list[str]) -> SemanticIndex:
        return SemanticIndex.build(
            index.lexical,
            index.encode,
            index.model,
            index.thresholds,
            [OutOfScopeExample(text) for text in texts],
        )

    every = listing(examples)
    listed = set(examples)

    def ask(text: str) -> _Outcome:
        if text not in listed:
            return use(every, text)
        return use(listing([example for example in examples if example != text]), text)

    return ask


@dataclass(frozen=True)
class Ceiling:
    """What no choice of thresholds can beat on one part: the thresholds are chosen on the part itself, for the
    most right first articles while abstaining on at least `CEILING_ABSTAIN` of its out-of-scope questions (None
    when no thresholds do)."""

    best_thresholds: Score | None
    separability: float
    """The probability that an in-scope question's top confidence is above an out-of-scope question's (the area
    under the ROC curve; ties count half): 1 when some cut-off abstains on every out-of-scope question and on no
    in-scope one, 0.5 when the confidence does not tell them apart."""


CEILING_ABSTAIN = 0.85
"""The issue's target of correct abstains, at which `ceiling` reads the most right first articles."""


def ceiling(ranked: Callable[[str], tuple[ScoredArticle, ...]], questions: Questions) -> Ceiling:
    """The best any thresholds reach on `questions` with the confidence of `ranked`: an upper bound of what
    tuning could do for this confidence on this part, since the thresholds are chosen on the very questions
    scored. Reading a held-out part this way spends it as a judge."""
    best: Score | None
    try:
        best = tune_thresholds(ranked, questions, CEILING_ABSTAIN, most_wrong=1.0)[1]
    except ValueError:
        best = None
    in_scope = [_top_score(ranked(text)) for text, _ in questions.answer]
    out_of_scope = [_top_score(ranked(text)) for text in questions.out_of_scope]
    pairs = [
        (inside > outside) + 0.5 * (inside == outside) for inside in in_scope for outside in out_of_scope
    ]
    return Ceiling(best, sum(pairs) / len(pairs) if pairs else 0.5)


def _top_score(ranked: tuple[ScoredArticle, ...]) -> float:
    return ranked[0].score if ranked else 0.0


def _lexical_fitter(articles: list[Article], synonyms: list[list[str]]) -> Fitter:
    plain_index = BotIndex.build(articles, synonyms)

    def fitted(questions: Questions) -> Callable[[str], BotAnswer]:
        model = fit_confidence_model(plain_index.candidates, questions)
        thresholds, _ = tune_thresholds(
            BotIndex.build(articles, synonyms, confidence_model=model).ranked, questions
        )
        return BotIndex.build(articles, synonyms, thresholds, model).ask

    return fitted


def cross_validate(
    articles: list[Article],
    synonyms: list[list[str]],
    questions: Questions,
    folds: int = 5,
    seed: int | None = None,
    fitter: Fitter | None = None,
) -> Score:
    """The engine's accuracy on `questions` estimated by `folds`-fold cross-validation: for each fold, the
    confidence model and thresholds are fitted on the other folds and scored on it; rates are pooled.

    Run on the tuning part only. Scored on itself, the tuning part says how well the engine fits it;
    cross-validated, it estimates what a choice is worth on questions it was not fitted on, without
    spending a held-out part on the choice. Folds take every `folds`-th question, in file order, or in an
    order shuffled by `seed`: on a part this small one fold assignment can favour a change by a few points,
    so a change is worth keeping only if it wins over several seeds. Handoff phrases are not part of it
    (nothing is fitted on them): their rates are left at 0. `fitter` fits another engine than the lexical one
    (`semantic_fitter`).
    """
    if seed is not None:
        shuffler = random.Random(seed)
        questions = Questions(
            answer=shuffler.sample(questions.answer, len(questions.answer)),
            out_of_scope=shuffler.sample(questions.out_of_scope, len(questions.out_of_scope)),
        )
    fitted = fitter or _lexical_fitter(articles, synonyms)
    pooled = {
        "top1": 0.0,
        "answered_right": 0.0,
        "answered_wrong": 0.0,
        "suggested_right": 0.0,
        "abstain": 0.0,
    }
    misses: list[str] = []
    for fold in range(folds):
        held = Questions(
            answer=questions.answer[fold::folds], out_of_scope=questions.out_of_scope[fold::folds]
        )
        fitting = Questions(
            answer=[entry for number, entry in enumerate(questions.answer) if number % folds != fold],
            out_of_scope=[
                text for number, text in enumerate(questions.out_of_scope) if number % folds != fold
            ],
        )
        result = score(fitted(fitting), held)
        in_scope, out_of_scope = len(held.answer), len(held.out_of_scope)
        pooled["top1"] += result.top1 * in_scope
        pooled["answered_right"] += result.answered_right * in_scope
        pooled["answered_wrong"] += result.answered_wrong * in_scope
        pooled["suggested_right"] += result.suggested_right * in_scope
        pooled["abstain"] += result.correct_abstain * out_of_scope
        misses += result.misses
    in_scope, out_of_scope = len(questions.answer) or 1, len(questions.out_of_scope) or 1
    return Score(
        pooled["top1"] / in_scope,
        pooled["answered_right"] / in_scope,
        pooled["answered_wrong"] / in_scope,
        pooled["suggested_right"] / in_scope,
        pooled["abstain"] / out_of_scope,
        0.0,
        0.0,
        misses,
    )


def _logistic_regression(features: list[tuple[float, ...]], labels: list[bool]) -> list[float]:
    """The intercept and weights maximising the L2-penalised likelihood, by Newton's method (a handful of
    features, a few hundred examples: exact and fast without a numerical library)."""
    rows = [(1.0, *row) for row in features]
    size = len(rows[0])
    weights = [0.0] * size
    for _ in range(50):
        gradient = [RIDGE * weight if index else 0.0 for index, weight in enumerate(weights)]
        hessian = [[RIDGE if row == column and row else 0.0 for column in range(size)] for row in range(size)]
        for row, label in zip(rows, labels, strict=True):
            probability = logistic(sum(weight * value for weight, value in zip(weights, row, strict=True)))
            for i in range(size):
                gradient[i] += (probability - label) * row[i]
                for j in range(size):
                    hessian[i][j] += probability * (1 - probability) * row[i] * row[j]
        step = _solve(hessian, gradient)
        weights = [weight - change for weight, change in zip(weights, step, strict=True)]
        if max(map(abs, step)) < 1e-10:
            break
    return weights


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """x with matrix @ x == vector, by Gauss-Jordan elimination with partial pivoting."""
    size = len(vector)
    augmented = [[*row, value] for row, value in zip(matrix, vector, strict=True)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda row: abs(augmented[row][column]))
        augmented[column], augmented[pivot] = augmented[pivot], augmented[column]
        for row in range(size):
            if row != column:
                factor = augmented[row][column] / augmented[column][column]
                augmented[row] = [
                    value - factor * lead
                    for value, lead in zip(augmented[row], augmented[column], strict=True)
                ]
    return [augmented[row][size] / augmented[row][row] for row in range(size)]
