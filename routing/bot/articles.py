"""The knowledge-base article as the engine sees it: plain data the hub copies from its rows."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Article", "locale_language"]


@dataclass(frozen=True, slots=True)
class Article:
    """One answer and the ways customers ask for it. `locale` is a BCP 47 tag ("zh-CN", "en");
    disabled articles are left out of the index, so switching one off takes effect at the next build."""

    id: str
    title: str
    questions: tuple[str, ...]
    answer: str
    locale: str = ""
    tags: tuple[str, ...] = ()
    enabled: bool = True


def locale_language(locale: str | None) -> str | None:
    """The primary language subtag of a locale, lower-cased ("zh-TW" gives "zh"); None when there is none.

    Articles are compared by language, not region: traditional characters are folded to simplified,
    so a zh-TW question is served by zh-CN articles too.
    """
    if not locale:
        return None
    return locale.replace("_", "-").split("-", 1)[0].strip().lower() or None
