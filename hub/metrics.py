"""Prometheus metrics of the pipeline (request latency comes from Litestar's Prometheus middleware)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ACCEPT_SECONDS",
    "BOT_DEFLECTIONS",
    "BOT_ENGINE_FALLBACKS",
    "BOT_HANDOFFS",
    "BOT_REPLIES",
    "DEAD_EVENTS",
    "DEAD_EVENTS_WAITING",
    "DUPLICATE_EVENTS",
    "INBOUND_EVENTS",
    "MESSAGES",
    "OUTBOUND_FAILURES",
    "PROCESSING_LAG",
    "QUEUE_DEPTH",
    "SPOOLED_DELIVERIES",
]

INBOUND_EVENTS = Counter("omnihub_inbound_events_total", "Inbound events accepted, per channel", ["channel"])
DUPLICATE_EVENTS = Counter(
    "omnihub_inbound_duplicates_total",
    "Inbound deliveries acknowledged as duplicates, per channel",
    ["channel"],
)
DEAD_EVENTS = Counter(
    "omnihub_inbound_dead_events_total",
    "Inbound events parked as dead after their last failed attempt, per channel",
    ["channel"],
)
DEAD_EVENTS_WAITING = Gauge(
    "omnihub_inbound_dead_events_waiting",
    "Dead inbound events waiting for an admin to retry or discard them, per channel",
    ["channel"],
)
MESSAGES = Counter(
    "omnihub_messages_total",
    "Messages stored or delivered, per channel and direction",
    ["channel", "direction"],
)
OUTBOUND_FAILURES = Counter(
    "omnihub_outbound_failures_total", "Outbound messages that failed, per channel", ["channel"]
)
PROCESSING_LAG = Histogram(
    "omnihub_processing_lag_seconds",
    "Time from accepting an inbound event to its message being stored",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_DEPTH = Gauge(
    "omnihub_queue_depth",
    "Work waiting: pending inbound events and outbound messages, and broker jobs",
    ["queue"],
)
ACCEPT_SECONDS = Histogram(
    "omnihub_accept_seconds",
    "Time a channel request spends in the durable accept step (insert, commit, enqueue), per channel",
    ["channel"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BOT_REPLIES = Counter(
    "omnihub_bot_replies_total",
    "Customer messages the bot replied to, per decision (answer, suggest, abstain, handoff)",
    ["decision"],
)
BOT_DEFLECTIONS = Counter(
    "omnihub_bot_deflections_total",
    "Questions the bot answered from the knowledge base without an agent (a direct answer or a chosen suggestion)",
)
BOT_ENGINE_FALLBACKS = Counter(
    "omnihub_bot_engine_fallbacks_total",
    "Questions the knowledge base answered because the inbox's engine (llm, webhook) was not configured or failed",
    ["engine", "reason"],
)
BOT_HANDOFFS = Counter(
    "omnihub_bot_handoffs_total",
    "Conversations the bot handed to a person, per reason (asked_for_human, frustration, abstained)",
    ["reason"],
)
SPOOLED_DELIVERIES = Gauge(
    "omnihub_spooled_deliveries",
    "Webhook deliveries this web process acknowledged while the database was away, not yet moved into it",
)
