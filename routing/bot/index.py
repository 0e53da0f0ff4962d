"""The searchable knowledge base: built once from the articles, then only read.

Ranking has two stages. BM25 over every phrasing (title and questions), plus a share of BM25 over
the article's body (title, tags, answer), picks a few candidates fast from an inverted index. The
candidates are then ordered by a confidence from 0 to 1 (`routing.bot.confidence`): how much of
the question's IDF weight the article covers and how much of its best-matching phrasing the
question covers, weighed against the share of the question in words no article has. The
confidence does not grow with the size of the knowledge base or the length of the question, so one
set of thresholds holds for every business.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from routing.bot.analysis import Analyzer
from routing.bot.articles import Article, locale_language
from routing.bot.confidence import DEFAULT_CONFIDENCE_MODEL, OTHER_LANGUAGE_FACTOR, ConfidenceModel, Evidence
from routing.bot.decision import DEFAULT_THRESHOLDS, BotAnswer, ScoredArticle, Thresholds, decide
from routing.bot.termspace import TermSpace

__all__ = ["BotIndex", "Candidate"]

CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class Candidate:
    """An article the ranking found for a question, with what it found about it (for fitting and explaining)."""

    article_id: str
    title: str
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class _AnalysedArticle:
    """An article's terms, kept across rebuilds: analysis is the costly part of indexing."""

    article: Article
    language: str | None
    phrasings: tuple[Mapping[str, int], ...]
    """Term counts of the title and each question."""
    body: Mapping[str, int]
    """Term counts of the title, tags and answer."""

    @classmethod
    def of(cls, article: Article, analyzer: Analyzer) -> _AnalysedArticle:
        phrasings = [analyzer.analyze(text).terms for text in (article.title, *article.questions)]
        body = analyzer.analyze(" ".join((article.title, *article.tags, article.answer)))
        language = locale_language(article.locale) or body.language
        return cls(article, language, tuple(terms for terms in phrasings if terms), body.terms)


class BotIndex:
    """An immutable index of enabled articles under one synonym table.

    Build it with `BotIndex.build`; derive the next one with `updated` when articles change (the
    analysis of unchanged articles is reused). Nothing in it changes after construction, so one
    index can serve every thread of a process while a new one is being built.
    """

    __slots__ = ("_analyzer", "_articles", "_by_id", "_terms", "confidence_model", "thresholds")

    def __init__(
        self,
        analyzer: Analyzer,
        articles: Sequence[_AnalysedArticle],
        thresholds: Thresholds,
        confidence_model: ConfidenceModel,
    ) -> None:
        self._analyzer = analyzer
        self._articles = tuple(articles)
        self._by_id = {entry.article.id: entry for entry in self._articles}
        self.thresholds = thresholds
        self.confidence_model = confidence_model
        self._terms = TermSpace(
            [entry.phrasings for entry in self._articles], [entry.body for entry in self._articles]
        )

    @classmethod
    def build(
        cls,
        articles: Iterable[Article],
        synonyms: Sequence[Sequence[str]] = (),
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        confidence_model: ConfidenceModel = DEFAULT_CONFIDENCE_MODEL,
    ) -> BotIndex:
        """Index the enabled articles; `synonyms` is the business's list of groups of equivalent terms."""
        analyzer = Analyzer(synonyms)
        return cls(
            analyzer,
            [_AnalysedArticle.of(article, analyzer) for article in _unique(articles) if article.enabled],
            thresholds,
            confidence_model,
        )

    def updated(self, upserts: Iterable[Article] = (), removed_ids: Iterable[str] = ()) -> BotIndex:
        """A new index with articles added, replaced (same id) or removed; this one is unchanged."""
        entries = dict(self._by_id)
        for article_id in removed_ids:
            entries.pop(article_id, None)
        for article in _unique(upserts):
            previous = entries.pop(article.id, None)
            if article.enabled:
                entries[article.id] = (
                    previous
                    if previous is not None and previous.article == article
                    else _AnalysedArticle.of(article, self._analyzer)
                )
        return BotIndex(self._analyzer, list(entries.values()), self.thresholds, self.confidence_model)

    def __len__(self) -> int:
        return len(self._articles)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._by_id

    def article(self, article_id: str) -> Article | None:
        """The indexed (enabled) article with this id, as it was when indexed; None when it is not indexed."""
        entry = self._by_id.get(article_id)
        return entry.article if entry is not None else None

    def entries(self) -> tuple[tuple[Article, str | None], ...]:
        """The indexed articles with the language each was indexed in (None: no known language)."""
        return tuple((entry.article, entry.language) for entry in self._articles)

    def question_language(self, text: str) -> str | None:
        """The language `text` is mostly written in, as the ranking sees it (None: no words)."""
        return self._analyzer.analyze_question(text).language

    def ask(self, text: str, locale: str | None = None) -> BotAnswer:
        """What the bot does with `text`. With `locale`, only articles in that language are considered."""
        return decide(self.ranked(text, locale), self.thresholds)

    def ranked(self, text: str, locale: str | None = None) -> tuple[ScoredArticle, ...]:
        """The best candidate articles for `text` with their confidence, best first (at most `CANDIDATES`)."""
        scored = [
            ScoredArticle(
                candidate.article_id, candidate.title, self.confidence_model.confidence(candidate.evidence)
            )
            for candidate in self.candidates(text, locale)
        ]
        scored.sort(key=lambda candidate: -candidate.score)
        return tuple(candidate for candidate in scored if candidate.score > 0)

    def candidates(self, text: str, locale: str | None = None) -> tuple[Candidate, ...]:
        """The articles most relevant to `text` (at most `CANDIDATES`, in no particular order), with the evidence
        their confidence is computed from. With `locale`, only articles in that language."""
        question = self._analyzer.analyze_question(text)
        wanted_language = locale_language(locale)
        language = wanted_language or question.language
        weights = self._terms.weights(question.terms)
        if not weights:
            return ()
        relevance = self._terms.relevance(weights)
        if wanted_language is not None:
            relevance = {
                article: score
                for article, score in relevance.items()
                if self._articles[article].language in (wanted_language, None)
            }
        else:
            relevance = {
                article: score if self._speaks(article, language) else score * OTHER_LANGUAGE_FACTOR
                for article, score in relevance.items()
            }
        unknown_share = sum(weight for term, weight in weights.items() if not self._terms.known(term)) / sum(
            weights.values()
        )
        return tuple(
            Candidate(
                self._articles[number].article.id,
                self._articles[number].article.title,
                Evidence(
                    self._terms.coverage(number, weights), unknown_share, self._speaks(number, language)
                ),
            )
            for number in heapq.nlargest(CANDIDATES, relevance, key=relevance.__getitem__)
        )

    def _speaks(self, article: int, language: str | None) -> bool:
        """Whether article number `article` is in `language` (an article or question of no known language fits any)."""
        return language is None or self._articles[article].language in (language, None)


def _unique(articles: Iterable[Article]) -> list[Article]:
    """`articles` in order; a repeated id is a caller's mistake that would make answers ambiguous."""
    listed = list(articles)
    repeated = [
        article_id for article_id, count in Counter(article.id for article in listed).items() if count > 1
    ]
    if repeated:
        raise ValueError(f"article ids repeated: {', '.join(sorted(repeated))}")
    return listed
