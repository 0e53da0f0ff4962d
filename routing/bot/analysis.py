"""Text to index terms, the same way for articles and for questions.

Chinese is segmented with jieba's dictionary (the Rust port `rjieba`: the same dictionary and
algorithm, ten times faster, and it writes no cache file) in search mode, which also emits the
dictionary words inside a long word (营业时间 gives 营业, 时间, 营业时间), so a question matches
an article that uses only part of a compound. Other words are stemmed with Snowball's English
stemmer. Stop words are dropped, and the business's synonyms become one concept term per group.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import rjieba
import snowballstemmer

from routing.bot.folding import fold
from routing.bot.lexicon import COMMON_SYNONYMS, IRREGULAR_ENGLISH_FORMS
from routing.bot.stopwords import CHINESE_STOP_WORDS, ENGLISH_STOP_WORDS, GENERIC_ENGLISH_VERBS
from routing.bot.synonyms import CONCEPT_MARK, SynonymTable

__all__ = ["MAX_QUESTION_TERMS", "Analysis", "Analyzer", "Language", "dominant_language"]

Language = Literal["zh", "en"]

MAX_QUESTION_TERMS = 64
"""A question's distinct terms beyond this are ignored, which bounds the time one question can take."""

HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"(?P<concept>{CONCEPT_MARK}\d+)|(?P<han>[{HAN_RANGES}]+)|(?P<word>[^\W_{HAN_RANGES}]+)")
HAN_CHARACTERS_PER_WORD = 1.5
"""Roughly how many Chinese characters make one English word's worth of text, to weigh scripts in mixed text."""


@dataclass(frozen=True, slots=True)
class Analysis:
    """The terms of a text with their counts, and the language most of it is written in (None: no words)."""

    terms: Mapping[str, int]
    language: Language | None


_per_thread = threading.local()


def _english_stemmer() -> snowballstemmer.stemmer:
    """This thread's stemmer: a Snowball stemmer keeps the word being stemmed in itself, so threads
    sharing one get each other's words."""
    stemmer = getattr(_per_thread, "english_stemmer", None)
    if stemmer is None:
        stemmer = _per_thread.english_stemmer = snowballstemmer.stemmer("english")
    return stemmer


def _stem_words(words: Iterable[str]) -> list[str]:
    kept = [
        word
        for word in (IRREGULAR_ENGLISH_FORMS.get(word, word) for word in words)
        if word not in ENGLISH_STOP_WORDS and word not in GENERIC_ENGLISH_VERBS
    ]
    return _english_stemmer().stemWords(kept) if kept else []


def _chinese_words(run: str) -> list[str]:
    return [word for word in rjieba.cut_for_search(run, True) if word not in CHINESE_STOP_WORDS]


class Analyzer:
    """Turns text into terms under one synonym table. Holds no mutable state: safe to share between threads."""

    __slots__ = ("synonyms",)

    def __init__(self, synonym_groups: Sequence[Sequence[str]] = ()) -> None:
        """`synonym_groups` are the business's own, merged with the built-in `COMMON_SYNONYMS`."""
        self.synonyms = SynonymTable.compile((*synonym_groups, *COMMON_SYNONYMS), self._plain_words)

    def analyze(self, text: str) -> Analysis:
        folded = fold(text)
        terms: list[str] = []
        pending_words: list[str] = []
        for match in TOKEN.finditer(self.synonyms.replace_han_phrases(folded)):
            kind, token = match.lastgroup, match.group()
            if kind == "word":
                pending_words.append(token)
                continue
            terms += self._words_with_synonyms(pending_words)
            pending_words = []
            terms += [token] if kind == "concept" else _chinese_words(token)
        terms += self._words_with_synonyms(pending_words)
        return Analysis(Counter(terms), dominant_language(folded))

    def analyze_question(self, text: str) -> Analysis:
        """Like `analyze`, keeping only the first `MAX_QUESTION_TERMS` distinct terms."""
        analysis = self.analyze(text)
        if len(analysis.terms) <= MAX_QUESTION_TERMS:
            return analysis
        kept = dict(list(analysis.terms.items())[:MAX_QUESTION_TERMS])
        return Analysis(kept, analysis.language)

    def _words_with_synonyms(self, words: list[str]) -> list[str]:
        return self.synonyms.replace_word_phrases(_stem_words(words)) if words else []

    @staticmethod
    def _plain_words(folded_phrase: str) -> list[str]:
        return _stem_words(
            match.group() for match in TOKEN.finditer(folded_phrase) if match.lastgroup == "word"
        )


def dominant_language(folded: str) -> Language | None:
    """Chinese or English, whichever more of the folded text is written in; None when it has no words."""
    han_characters = words = 0
    for match in TOKEN.finditer(folded):
        if match.lastgroup == "han":
            han_characters += len(match.group())
        elif not match.group().isdigit():
            words += 1
    if not han_characters and not words:
        return None
    return "zh" if han_characters / HAN_CHARACTERS_PER_WORD >= words else "en"
