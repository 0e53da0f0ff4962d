"""The articles' terms as an inverted index: BM25 relevance to find candidates fast, and the coverages
the confidence is made of."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Coverage", "TermSpace"]

BM25_K1 = 1.2
BM25_B = 0.75
BODY_SHARE = 0.3
"""How much the body's BM25 counts beside the best phrasing's when choosing candidates."""
ANSWER_CREDIT = 0.5
"""How much a question term found only in the answer (not in any phrasing) counts as covered."""
COMMON_TERM_SHARE = 0.25
COMMON_TERM_FLOOR = 64
"""Terms found in more than `COMMON_TERM_SHARE` of the phrasings (or bodies), and in more than
`COMMON_TERM_FLOOR` of them, retrieve no candidates on their own: they would touch most of a large
index. They still count in the confidence of the candidates the other terms find."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the question's weight an article's phrasings cover (answer-only terms at part credit),
    and how much of the article's best-matching phrasing the question covers; both from 0 to 1."""

    question: float
    phrasing: float

    @property
    def agreement(self) -> float:
        """The geometric mean of both: high only when the question and a phrasing say the same thing."""
        return math.sqrt(self.question * self.phrasing)


class TermSpace:
    """IDF, postings and phrasing weights of the terms of every article; read-only once built."""

    __slots__ = (
        "_article_phrasings",
        "_asked",
        "_avg_body_length",
        "_avg_phrasing_length",
        "_bodies",
        "_body_lengths",
        "_body_postings",
        "_idf",
        "_phrasing_lengths",
        "_phrasing_mass",
        "_phrasing_owner",
        "_phrasing_terms",
        "_postings",
        "unknown_idf",
    )

    def __init__(
        self, phrasings: Sequence[Sequence[Mapping[str, int]]], bodies: Sequence[Mapping[str, int]]
    ) -> None:
        """`phrasings[n]` are the term counts of article n's title and questions, `bodies[n]` of its title, tags and answer."""
        articles = len(bodies)
        document_frequency: Counter[str] = Counter()
        for own_phrasings, body in zip(phrasings, bodies, strict=True):
            document_frequency.update(set(body).union(*own_phrasings))
        self._idf = {term: _idf(articles, frequency) for term, frequency in document_frequency.items()}
        self.unknown_idf = _idf(articles, 0)
        postings: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        body_postings: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        owner: list[int] = []
        lengths: list[int] = []
        ranges: list[range] = []
        for number, (own_phrasings, body) in enumerate(zip(phrasings, bodies, strict=True)):
            ranges.append(range(len(owner), len(owner) + len(own_phrasings)))
            for counts in own_phrasings:
                for term, frequency in counts.items():
                    postings[term].append((len(owner), frequency))
                owner.append(number)
                lengths.append(sum(counts.values()))
            for term, frequency in body.items():
                body_postings[term].append((number, frequency))
        self._postings = {term: tuple(entries) for term, entries in postings.items()}
        self._body_postings = {term: tuple(entries) for term, entries in body_postings.items()}
        self._phrasing_owner = tuple(owner)
        self._phrasing_lengths = tuple(lengths)
        self._phrasing_terms = tuple(
            frozenset(counts) for own_phrasings in phrasings for counts in own_phrasings
        )
        self._phrasing_mass = tuple(sum(self._idf[term] for term in terms) for terms in self._phrasing_terms)
        self._article_phrasings = tuple(ranges)
        self._asked = tuple(frozenset().union(*own_phrasings) for own_phrasings in phrasings)
        self._bodies = tuple(frozenset(body) for body in bodies)
        self._body_lengths = tuple(sum(body.values()) for body in bodies)
        self._avg_phrasing_length = max(1.0, sum(lengths) / len(lengths)) if lengths else 1.0
        self._avg_body_length = max(1.0, sum(self._body_lengths) / articles) if articles else 1.0

    def weights(self, terms: Mapping[str, int]) -> dict[str, float]:
        """The IDF of each of a question's terms; a term no article has weighs the most."""
        return {term: self._idf.get(term, self.unknown_idf) for term in terms}

    def known(self, term: str) -> bool:
        """Whether any article has `term`."""
        return term in self._idf

    def relevance(self, weights: Mapping[str, float]) -> dict[int, float]:
        """BM25 of each article that shares a term with the question: its best phrasing's plus a share of its body's."""
        phrasing_scores: defaultdict[int, float] = defaultdict(float)
        common_phrasings = max(COMMON_TERM_FLOOR, COMMON_TERM_SHARE * len(self._phrasing_owner))
        for term, weight in weights.items():
            postings = self._postings.get(term, ())
            if len(postings) <= common_phrasings:
                for phrasing, frequency in postings:
                    phrasing_scores[phrasing] += weight * _saturation(
                        frequency, self._phrasing_lengths[phrasing], self._avg_phrasing_length
                    )
        totals: dict[int, float] = {}
        for phrasing, score in phrasing_scores.items():
            article = self._phrasing_owner[phrasing]
            totals[article] = max(totals.get(article, 0.0), score)
        common_articles = max(COMMON_TERM_FLOOR, COMMON_TERM_SHARE * len(self._bodies))
        for term, weight in weights.items():
            postings = self._body_postings.get(term, ())
            if len(postings) <= common_articles:
                for article, frequency in postings:
                    totals[article] = totals.get(article, 0.0) + BODY_SHARE * weight * _saturation(
                        frequency, self._body_lengths[article], self._avg_body_length
                    )
        return totals

    def coverage(self, article: int, weights: Mapping[str, float]) -> Coverage:
        """How well article number `article` covers the question of `weights`, and is covered by it."""
        question_mass = sum(weights.values())
        if not question_mass:
            return Coverage(0.0, 0.0)
        asked, body = self._asked[article], self._bodies[article]
        in_phrasings = sum(weight for term, weight in weights.items() if term in asked)
        in_answer = sum(weight for term, weight in weights.items() if term not in asked and term in body)
        question = min(1.0, (in_phrasings + ANSWER_CREDIT * in_answer) / question_mass)
        phrasing = 0.0
        for number in self._article_phrasings[article]:
            terms, mass = self._phrasing_terms[number], self._phrasing_mass[number]
            if mass:
                phrasing = max(
                    phrasing, sum(weight for term, weight in weights.items() if term in terms) / mass
                )
        return Coverage(question, phrasing)


def _idf(documents: int, frequency: int) -> float:
    """BM25's inverse document frequency, kept positive (the Lucene form)."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


def _saturation(frequency: int, length: int, average_length: float) -> float:
    return frequency * (BM25_K1 + 1) / (frequency + BM25_K1 * (1 - BM25_B + BM25_B * length / average_length))
