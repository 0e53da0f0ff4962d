"""The business's equivalent terms ("退款", "退钱", "refund", "money back"), applied at index and
at question time so that every phrase of a group becomes the same term.

Chinese phrases are matched as substrings of the folded text before segmentation, so the
segmenter cannot split them differently in different sentences; other phrases are matched on
their stemmed words, so "refunds" and "refunded" match "refund".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from routing.bot.folding import fold

__all__ = ["CONCEPT_MARK", "HAN", "SynonymTable"]

CONCEPT_MARK = "\ue000"
"""Starts the term that stands for a synonym group. A private-use character: `fold` removes every
such character from user text, so no question can forge a concept term."""

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class SynonymTable:
    """Compiled synonym groups; read-only once compiled, so threads can share it."""

    han_concepts: Mapping[str, str]
    han_pattern: re.Pattern[str] | None
    word_concepts: Mapping[tuple[str, ...], str]
    longest_word_phrase: int

    @classmethod
    def compile(cls, groups: Iterable[Sequence[str]], stem_words: Callable[[str], list[str]]) -> SynonymTable:
        """Map each group's phrases to one concept term; groups that share a phrase are merged into one.

        `stem_words` turns a folded phrase without Chinese characters into the words the analyser
        produces for it; a phrase left with no words (only stop words) is ignored.
        """
        keyed_groups: list[list[str | tuple[str, ...]]] = []
        for group in groups:
            keys: list[str | tuple[str, ...]] = []
            for phrase in group:
                folded = fold(phrase)
                if HAN.search(folded):
                    keys.append(folded)
                elif words := tuple(stem_words(folded)):
                    keys.append(words)
            keyed_groups.append(keys)
        concept_of = _merge_sharing_groups(keyed_groups)
        han_concepts = {key: concept for key, concept in concept_of.items() if isinstance(key, str)}
        word_concepts = {key: concept for key, concept in concept_of.items() if isinstance(key, tuple)}
        han_pattern = (
            re.compile("|".join(re.escape(phrase) for phrase in sorted(han_concepts, key=len, reverse=True)))
            if han_concepts
            else None
        )
        return cls(
            MappingProxyType(han_concepts),
            han_pattern,
            MappingProxyType(word_concepts),
            max(map(len, word_concepts), default=0),
        )

    def replace_han_phrases(self, folded: str) -> str:
        """`folded` with each Chinese phrase of a group replaced by the group's concept term, set apart by spaces."""
        if self.han_pattern is None:
            return folded
        return self.han_pattern.sub(lambda match: f" {self.han_concepts[match.group(0)]} ", folded)

    def replace_word_phrases(self, words: list[str]) -> list[str]:
        """Stemmed `words` with each phrase of a group replaced by its concept term, longest phrase first."""
        if not self.word_concepts:
            return words
        result: list[str] = []
        position = 0
        while position < len(words):
            for length in range(min(self.longest_word_phrase, len(words) - position), 0, -1):
                concept = self.word_concepts.get(tuple(words[position : position + length]))
                if concept is not None:
                    result.append(concept)
                    position += length
                    break
            else:
                result.append(words[position])
                position += 1
        return result


def _merge_sharing_groups(
    keyed_groups: list[list[str | tuple[str, ...]]],
) -> dict[str | tuple[str, ...], str]:
    """The concept term of every key, one per set of groups linked by shared keys (union-find)."""
    parent = list(range(len(keyed_groups)))

    def root(group: int) -> int:
        while parent[group] != group:
            parent[group] = parent[parent[group]]
            group = parent[group]
        return group

    first_group: dict[str | tuple[str, ...], int] = {}
    for number, keys in enumerate(keyed_groups):
        for key in keys:
            if key in first_group:
                parent[root(number)] = root(first_group[key])
            else:
                first_group[key] = number
    return {key: f"{CONCEPT_MARK}{root(number)}" for key, number in first_group.items()}
