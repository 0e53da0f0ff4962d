"""Bot answer selection: which knowledge-base article answers a customer's question, if any, and
whether the customer wants a person instead. Pure: articles and text in, decisions out.

How the hub is meant to use it:

1. Build an index per workspace from its articles and synonym list:
   `index = BotIndex.build([Article(id, title, questions, answer, locale, tags, enabled), ...], synonyms)`.
   It is immutable, so one index serves every thread; keep it beside a version of the workspace's
   knowledge base (a counter bumped on every article or synonym change).
2. For each customer message, first `detect_handoff(text)`: a `HandoffSignal` means route to a
   person (with its reason); then `asks_for_ticket(text)`: open a ticket for the conversation. Otherwise `index.ask(text, locale)` gives a `BotAnswer` whose fields are
   exactly what `POST /api/v1/kb/ask` serves: decision "answer" (send the article's answer),
   "suggest" (a "did you mean" list of `suggestions`) or "abstain" (count it; after N in a row, hand
   off). `locale` restricts the answer to articles in that language; without it the question's own
   language is preferred. `score` is a probability: the confidence model (`ConfidenceModel`, fitted
   on the benchmark's tuning questions) turns what the ranking found into the chance the article
   is right; `index.candidates(text)` shows that evidence, to explain an answer.
3. When an article changes, `index.updated(upserts=[...], removed_ids=[...])` returns the next index
   in a fraction of a full build (unchanged articles are not analysed again); when the synonym list
   changes, build anew. Each process swaps its index when it sees a newer version, so an edit takes
   effect everywhere without a restart. A fresh process pays about 0.1 s once, loading the
   dictionaries, on its first build.
"""

from routing.bot.articles import Article, locale_language
from routing.bot.choice import suggestion_choice
from routing.bot.confidence import DEFAULT_CONFIDENCE_MODEL, ConfidenceModel, Evidence
from routing.bot.decision import DEFAULT_THRESHOLDS, BotAnswer, Decision, ScoredArticle, Thresholds, decide
from routing.bot.folding import MAX_TEXT_CHARS, fold
from routing.bot.handoff import HandoffReason, HandoffSignal, asks_for_ticket, detect_handoff
from routing.bot.index import BotIndex, Candidate
from routing.bot.run_when import RunWhen, bot_runs

__all__ = [
    "DEFAULT_CONFIDENCE_MODEL",
    "DEFAULT_THRESHOLDS",
    "MAX_TEXT_CHARS",
    "Article",
    "BotAnswer",
    "BotIndex",
    "Candidate",
    "ConfidenceModel",
    "Decision",
    "Evidence",
    "HandoffReason",
    "HandoffSignal",
    "RunWhen",
    "ScoredArticle",
    "Thresholds",
    "asks_for_ticket",
    "bot_runs",
    "decide",
    "detect_handoff",
    "fold",
    "locale_language",
    "suggestion_choice",
]
