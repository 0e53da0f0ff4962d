"""The searchable knowledge base: built once from the articles, then only read.

Ranking has two stages. BM25 over every phrasing (title and questions), plus a share of BM25 over
the article's body (title, tags, answer), picks a few candidates fast from an inverted index. The
candidates are then ordered by a confidence from 0 to 1: the geometric mean of how much of the
question's IDF weight the article's phrasings cover (words found only in its answer count half)
and how much of its best-matching phrasing the question covers. A question that shares only a word
or two with an article covers little of either. The confidence does not grow with the size of the
knowledge base or the length of the question, so one set of thresholds holds for every business;
on the benchmark's tuning questions it also orders candidates better than BM25 does.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from routing.bot.analysis import Analyzer
from routing.bot.articles import Article, locale_language
from routing.bot.decision import DEFAULT_THRESHOLDS, BotAnswer, ScoredArticle, Thresholds, decide

__all__ = ["BotIndex"]

BM25_K1 = 1.2
BM25_B = 0.75
BODY_SHARE = 0.3
"""How much the body's BM25 counts beside the best phrasing's when choosing candidates."""
ANSWER_CREDIT = 0.5
"""How much a question word found only in the answer (not in the matched phrasing) counts as covered."""
OTHER_LANGUAGE_FACTOR = 0.5
"""Share of relevance and confidence kept by an article in another language than the question's: it can
still be offered when it is the only match (a bilingual synonym, a product name), but loses to its
same-language twin and is rarely answered with."""
CANDIDATES = 10
COMMON_TERM_SHARE = 0.25
COMMON_TERM_FLOOR = 64
"""Terms found in more than `COMMON_TERM_SHARE` of the phrasings (or bodies), and in more than
`COMMON_TERM_FLOOR` of them, retrieve no candidates on their own: they would touch most of a large
index. They still count in the confidence of the candidates the other terms find."""


@dataclass(frozen=True, slots=True)
class _AnalysedArticle:
    """An article's terms, kept across rebuilds: analysis is the costly part of indexing."""

    article: Article
    language: str | None
    phrasings: tuple[frozenset[str], ...]
    phrasing_counts: tuple[Mapping[str, int], ...]
    body: Mapping[str, int]
    """Terms of the title, tags and answer with their counts."""
    asked: frozenset[str]
    """Every term of every phrasing."""

    @classmethod
    def of(cls, article: Article, analyzer: Analyzer) -> _AnalysedArticle:
        phrasings = [analyzer.analyze(text) for text in (article.title, *article.questions)]
        body = analyzer.analyze(" ".join((article.title, *article.tags, article.answer)))
        language = locale_language(article.locale) or body.language
        kept = [phrasing for phrasing in phrasings if phrasing.terms]
        phrasing_terms = tuple(frozenset(phrasing.terms) for phrasing in kept)
        return cls(article, language, phrasing_terms, tuple(phrasing.terms for phrasing in kept), body.terms,
                   frozenset().union(*phrasing_terms))


class BotIndex:
    """An immutable index of enabled articles under one synonym table.

    Build it with `BotIndex.build`; derive the next one with `updated` when articles change (the
    analysis of unchanged articles is reused). Nothing in it changes after construction, so one
    index can serve every thread of a process while a new one is being built.
    """

    __slots__ = ("_analyzer", "_article_phrasings", "_articles", "_avg_body_length", "_avg_phrasing_length",
                 "_body_lengths", "_body_postings", "_by_id", "_idf", "_phrasing_lengths", "_phrasing_mass",
                 "_phrasing_owner", "_phrasing_terms", "_postings", "_unknown_idf", "thresholds")

    def __init__(self, analyzer: Analyzer, articles: Sequence[_AnalysedArticle], thresholds: Thresholds) -> None:
        self._analyzer = analyzer
        self._articles = tuple(articles)
        self._by_id = {entry.article.id: entry for entry in self._articles}
        self.thresholds = thresholds
        document_frequency: Counter[str] = Counter()
        for entry in self._articles:
            document_frequency.update(set().union(entry.body, *entry.phrasings))
        self._idf = {term: _idf(len(self._articles), frequency) for term, frequency in document_frequency.items()}
        self._unknown_idf = _idf(len(self._articles), 0)
        postings: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        body_postings: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        owner: list[int] = []
        lengths: list[int] = []
        ranges: list[range] = []
        for number, entry in enumerate(self._articles):
            ranges.append(range(len(owner), len(owner) + len(entry.phrasings)))
            for counts in entry.phrasing_counts:
                for term, frequency in counts.items():
                    postings[term].append((len(owner), frequency))
                owner.append(number)
                lengths.append(sum(counts.values()))
            for term, frequency in entry.body.items():
                body_postings[term].append((number, frequency))
        self._postings = {term: tuple(entries) for term, entries in postings.items()}
        self._body_postings = {term: tuple(entries) for term, entries in body_postings.items()}
        self._phrasing_owner = tuple(owner)
        self._phrasing_lengths = tuple(lengths)
        self._phrasing_terms = tuple(phrasing for entry in self._articles for phrasing in entry.phrasings)
        self._phrasing_mass = tuple(sum(self._idf[term] for term in terms) for terms in self._phrasing_terms)
        self._article_phrasings = tuple(ranges)
        self._body_lengths = tuple(sum(entry.body.values()) for entry in self._articles)
        self._avg_phrasing_length = max(1.0, sum(lengths) / len(lengths)) if lengths else 1.0
        self._avg_body_length = max(1.0, sum(self._body_lengths) / len(self._body_lengths)) if self._articles else 1.0

    @classmethod
    def build(cls, articles: Iterable[Article], synonyms: Sequence[Sequence[str]] = (),
              thresholds: Thresholds = DEFAULT_THRESHOLDS) -> BotIndex:
        """Index the enabled articles; `synonyms` is the business's list of groups of equivalent terms."""
        analyzer = Analyzer(synonyms)
        return cls(analyzer, [_AnalysedArticle.of(article, analyzer) for article in _unique(articles) if article.enabled],
                   thresholds)

    def updated(self, upserts: Iterable[Article] = (), removed_ids: Iterable[str] = ()) -> BotIndex:
        """A new index with articles added, replaced (same id) or removed; this one is unchanged."""
        entries = dict(self._by_id)
        for article_id in removed_ids:
            entries.pop(article_id, None)
        for article in _unique(upserts):
            previous = entries.pop(article.id, None)
            if article.enabled:
                entries[article.id] = (previous if previous is not None and previous.article == article
                                       else _AnalysedArticle.of(article, self._analyzer))
        return BotIndex(self._analyzer, list(entries.values()), self.thresholds)

    def __len__(self) -> int:
        return len(self._articles)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._by_id

    def ask(self, text: str, locale: str | None = None) -> BotAnswer:
        """What the bot does with `text`. With `locale`, only articles in that language are considered."""
        return decide(self.ranked(text, locale), self.thresholds)

    def ranked(self, text: str, locale: str | None = None) -> tuple[ScoredArticle, ...]:
        """The best candidate articles for `text` with their confidence, best first (at most `CANDIDATES`)."""
        question = self._analyzer.analyze_question(text)
        wanted_language = locale_language(locale)
        language = wanted_language or question.language
        weights = {term: self._idf.get(term, self._unknown_idf) for term in question.terms}
        question_mass = sum(weights.values())
        if not question_mass:
            return ()
        relevance = self._relevance(weights, wanted_language, language)
        shortlist = heapq.nlargest(CANDIDATES, relevance, key=relevance.__getitem__)
        scored = [self._confidence(number, weights, question_mass, language) for number in shortlist]
        scored.sort(key=lambda candidate: -candidate.score)
        return tuple(candidate for candidate in scored if candidate.score > 0)

    def _relevance(self, weights: Mapping[str, float], wanted_language: str | None,
                   language: str | None) -> dict[int, float]:
        """BM25 of each article that shares a term with the question: its best phrasing's, plus a share of its
        body's; only articles in `wanted_language` when one is given, those not in `language` marked down."""
        phrasing_scores: defaultdict[int, float] = defaultdict(float)
        common_phrasings = max(COMMON_TERM_FLOOR, COMMON_TERM_SHARE * len(self._phrasing_owner))
        for term, weight in weights.items():
            postings = self._postings.get(term, ())
            if len(postings) <= common_phrasings:
                for phrasing, frequency in postings:
                    phrasing_scores[phrasing] += weight * _saturation(
                        frequency, self._phrasing_lengths[phrasing], self._avg_phrasing_length)
        totals: dict[int, float] = {}
        for phrasing, score in phrasing_scores.items():
            article = self._phrasing_owner[phrasing]
            totals[article] = max(totals.get(article, 0.0), score)
        common_articles = max(COMMON_TERM_FLOOR, COMMON_TERM_SHARE * len(self._articles))
        for term, weight in weights.items():
            postings = self._body_postings.get(term, ())
            if len(postings) <= common_articles:
                for article, frequency in postings:
                    totals[article] = totals.get(article, 0.0) + BODY_SHARE * weight * _saturation(
                        frequency, self._body_lengths[article], self._avg_body_length)
        if wanted_language is not None:
            return {article: score for article, score in totals.items()
                    if self._articles[article].language in (wanted_language, None)}
        return {article: score if self._speaks(article, language) else score * OTHER_LANGUAGE_FACTOR
                for article, score in totals.items()}

    def _speaks(self, article: int, language: str | None) -> bool:
        """Whether article number `article` is in `language` (an article or question of no known language fits any)."""
        return language is None or self._articles[article].language in (language, None)

    def _confidence(self, number: int, weights: Mapping[str, float], question_mass: float,
                    language: str | None) -> ScoredArticle:
        """How well article `number` answers the question (weighted by IDF): how much of the question
        its phrasings cover (words found only in its answer earn part credit), and how much of its
        best-matching phrasing the question covers."""
        entry = self._articles[number]
        asked = sum(weight for term, weight in weights.items() if term in entry.asked)
        answered = sum(weight for term, weight in weights.items() if term not in entry.asked and term in entry.body)
        question_coverage = min(1.0, (asked + ANSWER_CREDIT * answered) / question_mass)
        phrasing_coverage = 0.0
        for phrasing in self._article_phrasings[number]:
            terms = self._phrasing_terms[phrasing]
            matched = sum(weight for term, weight in weights.items() if term in terms)
            phrasing_coverage = max(phrasing_coverage, matched / self._phrasing_mass[phrasing])
        best = math.sqrt(question_coverage * phrasing_coverage)
        if not self._speaks(number, language):
            best *= OTHER_LANGUAGE_FACTOR
        return ScoredArticle(entry.article.id, entry.article.title, best)


def _idf(documents: int, frequency: int) -> float:
    """BM25's inverse document frequency, kept positive (the Lucene form)."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


def _saturation(frequency: int, length: int, average_length: float) -> float:
    return frequency * (BM25_K1 + 1) / (frequency + BM25_K1 * (1 - BM25_B + BM25_B * length / average_length))


def _unique(articles: Iterable[Article]) -> list[Article]:
    """`articles` in order; a repeated id is a caller's mistake that would make answers ambiguous."""
    listed = list(articles)
    repeated = [article_id for article_id, count in Counter(article.id for article in listed).items() if count > 1]
    if repeated:
        raise ValueError(f"article ids repeated: {', '.join(sorted(repeated))}")
    return listed
