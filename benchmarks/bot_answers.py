"""Bot answers: accuracy on the bilingual FAQ set, and answer latency, build time and memory with
1,000 articles loaded, on one core.

    .venv/bin/python -m benchmarks.bot_answers          # measure and record in RESULTS.md
    .venv/bin/python -m benchmarks.bot_answers --tune   # choose thresholds on the tuning part

Accuracy is reported separately for the tuning part (the thresholds were chosen on it) and the
held-out part (never used to choose anything), on the FAQ alone (68 articles) and padded with
generated product articles to 1,000. Latency is one `BotIndex.ask` per question, in process, beside
its baseline: analysing the question alone (folding, segmentation, stemming, synonyms).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace

from benchmarks.bot_faq import Questions, Score, load_articles, load_questions, load_synonyms, score, tune_thresholds
from benchmarks.bot_faq.padding import padding_articles
from benchmarks.measure import describe_host, median, percentile
from benchmarks.results import record_section, table
from routing.bot import Article, BotIndex
from routing.bot.analysis import Analyzer

CATALOGUE_SIZE = 1000
HUGE_QUESTION = ("我上周在你们网站买了一张橡木餐桌和四把椅子 but the delivery guy said he could not find my building "
                 "所以现在包裹在哪里我也不知道 could you please check where my parcel is? 🙏 " * 12)
TARGETS = {"top1": 0.90, "correct_abstain": 0.85, "p99_ms": 50.0}
ACCURACY_COLUMNS = ["part", "articles", "top-1", "answered right", "answered wrong", "right one suggested",
                    "correct abstains", "handoff detected", "handoff false alarms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="search thresholds on the tuning part and print them")
    parser.add_argument("--runs", type=int, default=5, help="latency runs over every test question")
    parser.add_argument("--core", type=int, default=0, help="the CPU core to run on")
    options = parser.parse_args()
    os.sched_setaffinity(0, {options.core})
    machine = describe_host()
    machine["cpu used"] = f"core {options.core} only (sched_setaffinity)"
    first_question_ms = _first_question_ms()
    faq, synonyms = load_articles(), load_synonyms()
    tuning, held_out = load_questions("tuning"), load_questions("held-out")
    faq_index = BotIndex.build(faq, synonyms)
    if options.tune:
        thresholds, result = tune_thresholds(faq_index.ranked, tuning)
        print(f"{thresholds}\non the tuning part: top-1 {result.top1:.1%}, answered right {result.answered_right:.1%}, "
              f"answered wrong {result.answered_wrong:.1%}, correct abstains {result.correct_abstain:.1%}")
        return
    catalogue = faq + padding_articles(CATALOGUE_SIZE - len(faq))
    catalogue_index = BotIndex.build(catalogue, synonyms)
    accuracy = {(part, size): score(index.ask, questions)
                for part, questions in (("tuning", tuning), ("held-out", held_out))
                for size, index in ((len(faq), faq_index), (CATALOGUE_SIZE, catalogue_index))}
    questions = _all_texts(tuning) + _all_texts(held_out)
    analyzer = Analyzer(synonyms)
    latency = {"ask": _latencies(catalogue_index.ask, questions, options.runs),
               "baseline: analyse the question only": _latencies(analyzer.analyze_question, questions, options.runs),
               "ask, 2,000-character mixed question": _latencies(catalogue_index.ask, [HUGE_QUESTION] * 50, options.runs)}
    build = _build_figures(catalogue, synonyms)
    body = _report(machine, accuracy, latency, build, first_question_ms, faq_index, held_out, len(questions))
    print(body)
    record_section("bot_answers", "Bot answers: accuracy, latency and index build", machine, body)


def _first_question_ms() -> float:
    """The one-off cost a fresh process pays on its first question: loading jieba's dictionary and OpenCC's tables."""
    started = time.perf_counter()
    BotIndex.build([Article("warm-up", "配送时间", ("多久能收到货",), "2到4天。", "zh-CN")]).ask("請問多久能到")
    return (time.perf_counter() - started) * 1000


def _all_texts(questions: Questions) -> list[str]:
    return [text for text, _ in questions.answer] + questions.out_of_scope


def _latencies(operation: Callable[[str], object], texts: list[str], runs: int) -> list[tuple[float, float]]:
    """(P50, P99) in milliseconds of `operation` over `texts`, once per run."""
    figures = []
    for _ in range(runs):
        spent = []
        for text in texts:
            started = time.perf_counter()
            operation(text)
            spent.append((time.perf_counter() - started) * 1000)
        figures.append((percentile(spent, 0.50), percentile(spent, 0.99)))
    return figures


def _build_figures(catalogue: list[Article], synonyms: list[list[str]]) -> dict[str, float]:
    """Full build and one-article update times (median of runs, ms), and the memory the index keeps (MiB)."""
    full = []
    for _ in range(3):
        started = time.perf_counter()
        index = BotIndex.build(catalogue, synonyms)
        full.append((time.perf_counter() - started) * 1000)
    edited = replace(catalogue[0], answer=catalogue[0].answer + " 大件家具另行预约。")
    updates = []
    for _ in range(5):
        started = time.perf_counter()
        index.updated(upserts=[edited])
        updates.append((time.perf_counter() - started) * 1000)
    del index
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = BotIndex.build(catalogue, synonyms)
    retained = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    del kept
    return {"full build ms": median(full), "update of one article ms": median(updates), "memory MiB": retained / 2**20}


def _report(machine: dict[str, str], accuracy: dict[tuple[str, int], Score], latency: dict[str, list[tuple[float, float]]],
            build: dict[str, float], first_question_ms: float, faq_index: BotIndex, held_out: Questions,
            question_count: int) -> str:
    accuracy_rows = [[part, size, f"{result.top1:.1%}", f"{result.answered_right:.1%}", f"{result.answered_wrong:.1%}",
                      f"{result.suggested_right:.1%}", f"{result.correct_abstain:.1%}", f"{result.handoff_detected:.1%}",
                      f"{result.handoff_false_alarms:.1%}"]
                     for (part, size), result in accuracy.items()]
    headline = accuracy[("held-out", len(faq_index))]
    ask_p99 = median([p99 for _, p99 in latency["ask"]])
    met = (headline.top1 >= TARGETS["top1"] and headline.correct_abstain >= TARGETS["correct_abstain"]
           and ask_p99 < TARGETS["p99_ms"])
    latency_rows = [[name, *(f"{p50:.2f} / {p99:.2f}" for p50, p99 in runs),
                     f"**{median([p50 for p50, _ in runs]):.2f} / {median([p99 for _, p99 in runs]):.2f}**"]
                    for name, runs in latency.items()]
    runs = len(latency["ask"])
    misses = "\n".join(f"- {line}" for line in headline.misses)
    return f"""
FAQ: {len(faq_index)} articles (each topic in Chinese and English), {len(held_out.answer)} in-scope, \
{len(held_out.out_of_scope)} out-of-scope, {len(held_out.handoff)} handoff and {len(held_out.no_handoff)} \
not-handoff messages in each part. Thresholds (chosen with `--tune` on the tuning part only): \
{faq_index.thresholds}. "Catalogue" pads the FAQ with generated product articles to {CATALOGUE_SIZE:,}.

{table(ACCURACY_COLUMNS, accuracy_rows)}

Top-1: the answer, or the first suggestion, is the expected article. Answered right/wrong: decision "answer" with the
expected / another article. Right one suggested: the expected article is among the "did you mean" suggestions.

Latency with {CATALOGUE_SIZE:,} articles on one core, {question_count} questions (in-scope and out-of-scope, both parts) per run, P50 / P99 ms:

{table(["operation", *(f"run {number}" for number in range(1, runs + 1)), "median"], latency_rows)}

Index of {CATALOGUE_SIZE:,} articles: full build {build["full build ms"]:.0f} ms (median of 3), updating one article \
{build["update of one article ms"]:.0f} ms (median of 5; the other articles' analysis is reused), \
{build["memory MiB"]:.1f} MiB kept (tracemalloc). A fresh process's first question costs \
{first_question_ms:.0f} ms once (jieba's dictionary and OpenCC's tables).

Targets on the held-out part (FAQ alone): top-1 ≥ 90 %, correct abstains ≥ 85 %, P99 < 50 ms with 1,000 articles: \
**{"met" if met else "not met"}** (top-1 {headline.top1:.1%}, correct abstains {headline.correct_abstain:.1%}, P99 {ask_p99:.2f} ms).

Held-out questions the engine got wrong:

{misses}
"""


if __name__ == "__main__":
    main()
