"""Bot answer selection: which knowledge-base article answers a customer's question, if any, and
whether the customer wants a person instead.
"""

from routing.bot.articles import Article, locale_language
from routing.bot.decision import DEFAULT_THRESHOLDS, BotAnswer, Decision, ScoredArticle, Thresholds, decide
from routing.bot.folding import MAX_TEXT_CHARS, fold
from routing.bot.handoff import HandoffReason, HandoffSignal, detect_handoff
from routing.bot.index import BotIndex

__all__ = [
    "DEFAULT_THRESHOLDS", "MAX_TEXT_CHARS", "Article", "BotAnswer", "BotIndex", "Decision", "HandoffReason",
    "HandoffSignal", "ScoredArticle", "Thresholds", "decide", "detect_handoff", "fold", "locale_language",
]
