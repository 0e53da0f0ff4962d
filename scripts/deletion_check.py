"""Deletion check: each feature's code, deleted from a copy of the tree, must make the tests named for it fail.

Mutation testing (mutmut, cosmic-ray) over the hub's core modules takes far longer than the suite on
two cores, so this is its targeted form: a declared list of deletions, each one located by module
file, qualified function name and (optionally) the source text a statement or expression starts with,
and paired with the tests that must fail without it. Each deletion is applied to a temporary copy of
the tree (never to the checkout), those tests alone run in a fresh pytest session (forked from a
zygote that imported only libraries), and a deletion whose tests still pass is reported as surviving. A target that is no longer found fails the check loudly, so a
refactoring that moves the code makes whoever moved it re-point the spec.

    python scripts/deletion_check.py             # every deletion, then a summary
    python scripts/deletion_check.py --list      # the deletions and their tests
    python scripts/deletion_check.py -k sweeper  # the deletions whose name contains "sweeper"

Exit status: 0 when every deletion is caught, 1 when one survives, 2 when a spec is broken.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gc
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("hub", "connectors", "normalizer", "routing", "admin_ui", "tests", "benchmarks", "pyproject.toml")
"""What the tests import and read; the copy leaves out the virtualenv, var/ and version control."""
TEST_TIMEOUT_SECONDS = 120
DELETED_WAIT_SECONDS = "10"
"""The tests' `wait_for` bound here: most waits fail once their feature is deleted, and the named tests passed
on the unchanged tree well within it."""


@dataclass(frozen=True, slots=True)
class Deletion:
    """A feature's code and the tests that must fail without it.

    `function` is the qualified name of a function or method in `module` (a path from the
    repository's root). Without `starts_with` the function's whole body is replaced by
    `replacement` (by default `return None`). With it, the one statement, expression or `except`
    clause inside the function whose source starts with that text is replaced: a statement by
    `pass`, an `except` clause removed, an expression by `replacement` (which it then needs).
    """

    name: str
    module: str
    function: str
    tests: tuple[str, ...]
    starts_with: str | None = None
    replacement: str | None = None


Located = ast.stmt | ast.expr | ast.ExceptHandler


class SpecError(Exception):
    """A deletion whose target is missing or ambiguous, or whose result is not valid Python."""


DELETIONS: tuple[Deletion, ...] = (
    # hub/assignment.py and its API
    Deletion(
        "assignment: resolving a conversation serves the queue",
        "hub/lifecycle.py",
        "announce",
        (
            "tests/hub/test_assignment_api.py::"
            "test_only_an_online_team_member_with_room_gets_it_and_the_queue_drains_when_a_seat_frees",
        ),
        starts_with="await hub.jobs.send(actors.serve_queue",
    ),
    Deletion(
        "assignment: an agent gone offline loses their conversations to the queue",
        "hub/assignment.py",
        "reroute_workspace",
        (
            "tests/hub/test_assignment_api.py::test_an_agent_going_offline_returns_their_conversations_to_the_queue",
        ),
        starts_with="await _set_assignee(session, conversation, None",
    ),
    # hub/presence.py and hub/agent_connections.py
    Deletion(
        "presence: only an agent's last connection on any web process closing takes them offline",
        "hub/agent_connections.py",
        "RedisAgentConnections.disconnect",
        (
            "tests/production/test_presence_across_processes.py::"
            "test_closing_the_tab_on_one_process_keeps_the_agent_online_while_a_tab_on_another_stays_open",
            "tests/hub/test_agent_connections.py::"
            "test_the_first_connection_brings_an_agent_and_only_the_last_one_closing_takes_them",
        ),
        replacement="return True",
    ),
    Deletion(
        "presence: each web process's heartbeat keeps its connections from lapsing",
        "hub/presence.py",
        "PresenceHeartbeat.beat",
        (
            "tests/production/test_presence_across_processes.py::"
            "test_closing_the_tab_on_one_process_keeps_the_agent_online_while_a_tab_on_another_stays_open",
            "tests/hub/test_presence_lapse.py::"
            "test_an_agent_whose_connection_lapsed_goes_offline_while_one_connected_here_stays",
        ),
        starts_with="await self._hub.agent_connections.refresh(",
        replacement="[]",
    ),
    Deletion(
        "presence: the agents of a killed web process are stored offline and lose their conversations",
        "hub/presence.py",
        "release_lapsed",
        (
            "tests/production/test_presence_across_processes.py::"
            "test_the_agents_of_a_killed_web_process_go_offline_within_the_time_to_live",
            "tests/hub/test_presence_lapse.py::"
            "test_an_agent_whose_connection_lapsed_goes_offline_while_one_connected_here_stays",
        ),
        replacement="return 0",
    ),
    Deletion(
        "presence: an agent whose connections lapsed reads offline",
        "hub/agent_connections.py",
        "presence_shown",
        (
            "tests/hub/test_agent_connections.py::"
            "test_in_memory_connections_not_refreshed_lapse_after_their_time_to_live_and_the_agent_reads_offline",
        ),
        replacement="return AgentPresence(stored)",
    ),
    Deletion(
        "presence: in memory, connections not refreshed lapse",
        "hub/agent_connections.py",
        "MemoryAgentConnections.lapsed_agents",
        (
            "tests/hub/test_agent_connections.py::"
            "test_in_memory_connections_not_refreshed_lapse_after_their_time_to_live_and_the_agent_reads_offline",
        ),
        replacement="return []",
    ),
    Deletion(
        "presence race: a last tab closing as another opens elsewhere stores online again",
        "hub/presence.py",
        "store_offline",
        (
            "tests/hub/test_presence_lapse.py::"
            "test_a_last_tab_closing_as_another_opens_elsewhere_leaves_the_agent_online",
        ),
        starts_with="if await hub.agent_connections.connected(agent)",
    ),
    Deletion(
        "presence race: a process back from a stall keeps an Away its agents chose",
        "hub/presence.py",
        "PresenceHeartbeat.beat",
        (
            "tests/hub/test_presence_lapse.py::"
            "test_a_web_process_that_stalled_past_the_time_to_live_brings_its_agents_back",
        ),
        starts_with="AgentPresence.OFFLINE",
        replacement="None",
    ),
    # hub/auth.py
    Deletion(
        "auth: an expired API token is refused",
        "hub/auth.py",
        "authenticate",
        ("tests/hub/test_sign_in.py::test_an_expired_session_is_refused_from_the_moment_it_ends",),
        starts_with="if row.expires_at is not None and row.expires_at <= hub.now()",
    ),
    Deletion(
        "auth: an unknown API token is refused",
        "hub/auth.py",
        "authenticate",
        ("tests/hub/test_sign_in.py::test_logout_revokes_the_token_it_is_called_with_and_no_other",),
        starts_with="if row is None or not hmac.compare_digest",
    ),
    Deletion(
        "auth: logout revokes the token",
        "hub/auth.py",
        "logout",
        ("tests/hub/test_sign_in.py::test_logout_revokes_the_token_it_is_called_with_and_no_other",),
        starts_with="await session.exec(delete(ApiToken)",
    ),
    Deletion(
        "auth: logout closes the token's sockets",
        "hub/auth.py",
        "logout",
        ("tests/hub/test_sign_in.py::test_logout_closes_the_sockets_opened_with_that_token",),
        starts_with="await hub.publisher.publish(SESSION_REVOKED",
    ),
    Deletion(
        "auth: a password change revokes the other sessions",
        "hub/auth.py",
        "change_password",
        ("tests/hub/test_sign_in.py::test_a_password_change_revokes_the_agents_other_sessions",),
        starts_with="await session.exec(delete(ApiToken)",
    ),
    Deletion(
        "auth: sign-in attempts are rate limited",
        "hub/auth.py",
        "login",
        (
            "tests/hub/test_sign_in.py::test_guessing_one_accounts_password_is_stopped_with_retry_after",
            "tests/hub/test_sign_in.py::test_one_address_trying_many_accounts_is_stopped",
        ),
        starts_with="await _count_sign_in_attempt(",
    ),
    Deletion(
        "auth: the per-address sign-in limit",
        "hub/auth.py",
        "_count_sign_in_attempt",
        ("tests/hub/test_sign_in.py::test_one_address_trying_many_accounts_is_stopped",),
        starts_with='(f"login:ip:{address}"',
        replacement="(_account_key(email), settings.login_attempts_per_account)",
    ),
    Deletion(
        "auth: guesses at the current password count against the limit",
        "hub/auth.py",
        "change_password",
        ("tests/hub/test_sign_in.py::test_guessing_the_current_password_counts_against_the_sign_in_limit",),
        starts_with="await _count_sign_in_attempt(",
    ),
    Deletion(
        "auth: a successful sign-in clears the account's failures",
        "hub/auth.py",
        "login",
        ("tests/hub/test_sign_in.py::test_a_successful_sign_in_clears_the_accounts_failures",),
        starts_with="await limiter.reset(",
    ),
    Deletion(
        "auth: the password is checked",
        "hub/auth.py",
        "_password_matches",
        ("tests/hub/test_sign_in.py::test_guessing_one_accounts_password_is_stopped_with_retry_after",),
        replacement="return password_hash is not None",
    ),
    Deletion(
        "auth: a password change checks the current password",
        "hub/auth.py",
        "change_password",
        ("tests/hub/test_sign_in.py::test_a_password_change_needs_the_current_password_and_a_long_new_one",),
        starts_with="if not await _off_loop(_password_matches",
    ),
    # hub/customers.py
    Deletion(
        "customers: contacts linked by a verified identity merge",
        "hub/customers.py",
        "merge_contacts",
        ("tests/hub/test_customers.py::test_a_verified_link_merges_two_contacts_with_their_conversations",),
    ),
    Deletion(
        "customers: only verified links are used",
        "hub/customers.py",
        "CustomerDirectory.resolve",
        ("tests/hub/test_customers.py::test_an_unverified_link_merges_nothing",),
        starts_with="verified_links = [",
        replacement="verified_links = [normalize_identity(identity) for identity in linked]",
    ),
    Deletion(
        "contacts: identify trusts only the business's HMAC",
        "connectors/webchat/connector.py",
        "WebChatConnector._signed_by_business",
        (
            "tests/hub/test_contacts.py::test_a_visitor_claiming_a_customers_email_without_the_signature_sees_and_joins_nothing",
        ),
        replacement="return True",
    ),
    Deletion(
        "contacts: an unverified matching claim becomes a merge suggestion",
        "hub/customers.py",
        "_suggest_merges",
        (
            "tests/hub/test_contacts.py::test_a_visitor_claiming_a_customers_email_without_the_signature_sees_and_joins_nothing",
        ),
    ),
    Deletion(
        "contacts: a merge writes contact.merged to the outbox",
        "hub/customers.py",
        "merge_contacts",
        (
            "tests/hub/test_contacts.py::test_a_second_signed_visit_of_the_same_user_merges_the_anonymous_conversations",
        ),
        starts_with="events.record(",
    ),
    Deletion(
        "contacts: undo restores the surviving contact's profile",
        "hub/customers.py",
        "undo_merge",
        ("tests/hub/test_contacts.py::test_merge_previews_moves_and_undoes_exactly",),
        starts_with='Profile(**details["before"]["survivor"])',
    ),
    Deletion(
        "contacts: what arrived after a merge on the merged identities goes back on undo",
        "hub/customers.py",
        "undo_merge",
        ("tests/hub/test_contacts.py::test_merge_previews_moves_and_undoes_exactly",),
        starts_with="col(Conversation.identity_id).in_(identity_ids)",
        replacement="False",
    ),
    Deletion(
        "contacts: a merged contact answers 410 with the survivor",
        "hub/api/contacts.py",
        "load_contact",
        ("tests/hub/test_contacts.py::test_merge_previews_moves_and_undoes_exactly",),
        starts_with="if contact.merged_into is not None",
    ),
    Deletion(
        "contacts: search finds any spelling of a phone or email",
        "hub/search.py",
        "search_values",
        (
            "tests/hub/test_contacts.py::test_a_signed_identify_links_the_visitor_and_any_spelling_of_its_phone_finds_it",
        ),
        starts_with="for kind in (IdentityKind.EMAIL",
    ),
    Deletion(
        "contacts: agents read card and ID numbers masked",
        "hub/api/messages.py",
        "masked_view",
        (
            "tests/hub/test_contacts.py::test_card_and_id_numbers_are_masked_for_agents_until_an_admin_reveals_them",
        ),
        starts_with="rules.mask(view.text)",
        replacement="view.text",
    ),
    Deletion(
        "contacts: only an admin reveals masked numbers",
        "hub/api/messages.py",
        "MessageController.reveal",
        (
            "tests/hub/test_contacts.py::test_card_and_id_numbers_are_masked_for_agents_until_an_admin_reveals_them",
        ),
        starts_with="if caller.agent is None or caller.agent.role",
    ),
    Deletion(
        "contacts: identify retries after a concurrent insert of the same identity",
        "hub/connector_routes.py",
        "HubChannelServices.identify",
        ("tests/production/test_identify_on_postgresql.py",),
        starts_with="except IntegrityError",
    ),
    Deletion(
        "normalizer: a country code written without + is read as international",
        "normalizer/identities.py",
        "_e164",
        (
            "tests/normalizer/test_identities.py",
            "tests/hub/test_contacts.py::test_a_signed_identify_links_the_visitor_and_any_spelling_of_its_phone_finds_it",
        ),
        starts_with="if number is None and not raw",
    ),
    Deletion(
        "normalizer: full-width digits and ideographic spaces are folded",
        "normalizer/identities.py",
        "fold_text",
        ("tests/normalizer/test_identities.py",),
        starts_with='unicodedata.normalize("NFKC", value)',
        replacement="value",
    ),
    # hub/inbound/
    Deletion(
        "inbound: a redelivered message is stored once (accept dedupe)",
        "hub/inbound/storage.py",
        "_insert_events_sqlite",
        ("tests/hub/test_durability.py::test_concurrent_duplicate_deliveries_store_one_message",),
        starts_with="statement = (",
        replacement="statement = sqlite_insert(InboundEvent.__table__).returning(InboundEvent.__table__.c.id)",
    ),
    Deletion(
        "inbound: a poison event fails alone (isolation)",
        "hub/inbound/process.py",
        "_store_isolating",
        (
            "tests/hub/test_poison_events.py::"
            "test_a_batch_stores_every_event_but_the_bad_one_which_is_retried_with_backoff_then_dead"
            "[sqlite-a message id stored already]",
        ),
        replacement="return await _store(hub, batch)",
    ),
    Deletion(
        "inbound: an event out of attempts is parked dead",
        "hub/inbound/process.py",
        "_record_failures",
        (
            "tests/hub/test_poison_events.py::"
            "test_a_batch_stores_every_event_but_the_bad_one_which_is_retried_with_backoff_then_dead"
            "[sqlite-a message id stored already]",
        ),
        starts_with="failure.final or attempts >= hub.settings.inbound_max_attempts",
        replacement="False",
    ),
    Deletion(
        "inbound: a customer's messages thread into their open conversation",
        "hub/inbound/process.py",
        "_thread",
        ("tests/hub/test_customers.py::test_a_customers_messages_share_one_open_conversation",),
        starts_with="if conversation is not None:",
    ),
    # hub/outbound.py
    Deletion(
        "outbound: a reply is sent through the connector",
        "hub/outbound.py",
        "_attempt",
        ("tests/hub/test_outbound_failures.py::test_a_deferred_send_waits_pending_with_the_channels_reason",),
        starts_with="result = await connector.send(",
        replacement="raise PermanentSendError('deleted')",
    ),
    Deletion(
        "outbound: a deferred send waits instead of failing",
        "hub/outbound.py",
        "_attempt",
        ("tests/hub/test_outbound_failures.py::test_a_deferred_send_waits_pending_with_the_channels_reason",),
        starts_with="except DeferredSendError",
    ),
    Deletion(
        "outbound: a transient failure is retried",
        "hub/outbound.py",
        "_retry_or_give_up",
        ("tests/hub/test_outbound_failures.py::test_a_transient_failure_is_retried_and_the_reply_sent",),
        starts_with="attempts >= hub.settings.outbound_max_attempts",
        replacement="True",
    ),
    Deletion(
        "outbound: retries give up after the configured attempts",
        "hub/outbound.py",
        "_retry_or_give_up",
        (
            "tests/hub/test_outbound_failures.py::"
            "test_a_delivery_that_crashes_in_the_hub_is_retried_then_fails_and_the_next_reply_goes_out",
        ),
        starts_with="attempts >= hub.settings.outbound_max_attempts",
        replacement="False",
    ),
    # hub/sweeper.py
    Deletion(
        "sweeper: a reply left sending by a stopped worker is sent again",
        "hub/sweeper.py",
        "sweep",
        (
            "tests/hub/test_outbound_failures.py::test_a_reply_left_sending_is_delivered_after_the_sweeper_runs",
        ),
        starts_with="if abandoned_sends:",
    ),
    Deletion(
        "sweeper: a reply left sending out of attempts fails",
        "hub/sweeper.py",
        "sweep",
        (
            "tests/hub/test_outbound_failures.py::"
            "test_a_delivery_whose_worker_stopped_mid_attempt_is_tried_again_until_out_of_attempts",
        ),
        starts_with="for message_id in out_of_attempts:",
    ),
    Deletion(
        "sweeper: a reply whose job was lost is delivered",
        "hub/sweeper.py",
        "sweep",
        ("tests/hub/test_durability.py::test_sweeper_delivers_a_reply_whose_job_was_lost",),
        starts_with="for message_id in outbound:",
    ),
    Deletion(
        "sweeper: an event whose job was lost is processed",
        "hub/sweeper.py",
        "sweep",
        ("tests/hub/test_durability.py::test_sweeper_recovers_an_event_whose_job_was_lost",),
        starts_with="for start in range(0, len(stuck_events), size):",
    ),
    Deletion(
        "email: pollers are started on the worker",
        "hub/jobs.py",
        "WorkerHub._build",
        ("tests/connectors/email/test_through_the_hub.py::test_a_mailbox_is_read_threaded_and_answered",),
        starts_with="self.pollers.start()",
    ),
    Deletion(
        "email: a reply joins the conversation of the mail it answers",
        "hub/inbound/threads.py",
        "ReplyThreads.find",
        ("tests/connectors/email/test_through_the_hub.py::test_a_mailbox_is_read_threaded_and_answered",),
    ),
    Deletion(
        "email: replies carry the subject and the ids they answer",
        "hub/reply_threads.py",
        "reply_thread",
        ("tests/connectors/email/test_through_the_hub.py::test_a_mailbox_is_read_threaded_and_answered",),
        replacement="return ReplyThread(None, ())",
    ),
    Deletion(
        "email: a bounce fails the reply it names",
        "hub/inbound/threads.py",
        "fail_bounced_replies",
        (
            "tests/connectors/email/test_through_the_hub.py::test_a_bounce_fails_the_reply_and_an_auto_reply_wakes_no_bot",
        ),
        replacement="return []",
    ),
    Deletion(
        "email: the cursor is saved after each batch, so a restart resumes",
        "hub/pollers.py",
        "_Poller._store",
        (
            "tests/connectors/email/test_through_the_hub.py::test_restarted_mid_import_nothing_is_lost_or_stored_twice",
        ),
        starts_with="async with self.hub.database.session() as session:",
    ),
    Deletion(
        "email: a failing mailbox shows on its inbox",
        "hub/pollers.py",
        "_Poller._set_status",
        (
            "tests/connectors/email/test_through_the_hub.py::test_a_broken_mailbox_shows_on_its_inbox_and_stops_no_other",
        ),
    ),
    Deletion(
        "bot: business synonyms reach the index",
        "hub/knowledge_base.py",
        "workspace_synonyms",
        ("tests/hub/test_bot_engines.py::test_business_synonyms_take_effect_at_once_on_every_process",),
        replacement="return ()",
    ),
    Deletion(
        "bot: the semantic re-ranker answers what the words alone do not settle",
        "routing/bot/semantic.py",
        "SemanticIndex.ask",
        (
            "tests/routing/bot/test_semantic.py::test_a_paraphrase_the_words_do_not_settle_is_answered_with_the_re_ranker",
            "tests/hub/test_knowledge_base_semantic.py::test_the_api_answers_paraphrases_only_with_the_re_ranker_in_the_same_shape",
            "tests/hub/test_knowledge_base_semantic.py::test_the_bot_in_a_conversation_answers_with_the_re_ranker",
        ),
        replacement="return self.lexical.ask(text, locale)",
    ),
    Deletion(
        "bot: the semantic re-ranker embeds only the phrasings an edit changed",
        "routing/bot/semantic.py",
        "SemanticIndex.build",
        (
            "tests/routing/bot/test_semantic.py::test_an_edit_embeds_only_the_phrasings_it_changed_and_is_answered_from_at_once",
        ),
        starts_with="embedded.get(text)",
        replacement="None",
    ),
    Deletion(
        "bot: OMNIHUB_KB_SEMANTIC_MODEL=e5 re-ranks with multilingual-e5-small",
        "hub/knowledge_base.py",
        "knowledge_base",
        (
            "tests/hub/test_knowledge_base_e5.py::test_the_e5_model_answers_what_neither_the_words_nor_use_settle",
            "tests/hub/test_knowledge_base_e5.py::test_the_bot_in_a_conversation_answers_with_e5",
        ),
        starts_with="hub.settings.kb_semantic_model",
        replacement='"use"',
    ),
    Deletion(
        "bot: an out-of-scope example closer than any article vetoes the answer",
        "routing/bot/semantic.py",
        "SemanticIndex._vetoed",
        (
            "tests/hub/test_knowledge_base_e5.py::test_an_out_of_scope_example_closer_than_any_article_turns_an_answer_into_an_abstain",
            "tests/hub/test_knowledge_base_e5.py::test_an_example_added_on_one_process_is_used_at_once_on_another",
        ),
        replacement="return False",
    ),
    Deletion(
        "bot: an out-of-scope example keeps the LLM engine from being asked",
        "routing/bot/semantic.py",
        "SemanticIndex.grounding",
        (
            "tests/hub/test_knowledge_base_e5.py::test_the_llm_engine_is_not_asked_about_a_question_an_example_vetoes",
        ),
        starts_with="if self._vetoed(",
    ),
    Deletion(
        "bot: out-of-scope examples reach the index",
        "hub/knowledge_base.py",
        "out_of_scope_examples",
        (
            "tests/hub/test_knowledge_base_e5.py::test_an_out_of_scope_example_closer_than_any_article_turns_an_answer_into_an_abstain",
        ),
        replacement="return []",
    ),
    Deletion(
        "bot: the semantic re-ranker without its package is refused at start",
        "hub/settings.py",
        "Settings._semantic_model_installed",
        (
            "tests/hub/test_knowledge_base_semantic.py::test_the_semantic_re_ranker_without_its_package_is_refused_at_start_naming_both",
            "tests/hub/test_knowledge_base_e5.py::test_e5_without_its_package_is_refused_at_start_naming_it",
        ),
        replacement="return self",
    ),
    Deletion(
        "bot: the LLM engine answers",
        "hub/bot_engines.py",
        "engine_answer",
        ("tests/hub/test_bot_engines.py::test_the_llm_engine_answers_grounded_in_the_top_articles",),
        starts_with='if engine == "llm":',
    ),
    Deletion(
        "bot and routing: events to the business's own services are signed",
        "hub/signed_calls.py",
        "ask_signed",
        (
            "tests/hub/test_bot_engines.py::test_the_external_bot_gets_a_signed_event_and_its_answer_is_sent",
            "tests/hub/test_assignment_api.py::test_the_external_service_is_asked_signed_and_its_agent_takes_it",
        ),
        starts_with="signed_webhook_headers(",
        replacement="{}",
    ),
    Deletion(
        "bot: a failing engine falls back to the knowledge base",
        "hub/bot_engines.py",
        "engine_answer",
        (
            "tests/hub/test_bot_engines.py::test_an_external_bot_that_fails_leaves_the_answer_to_the_knowledge_base",
        ),
        starts_with="ASK_FAILURES",
        replacement="()",
    ),
    Deletion(
        "widget: a visitor's message attaches only files uploaded to its workspace",
        "hub/connector_routes.py",
        "HubChannelServices.stored_file",
        (
            "tests/connectors/webchat/test_widget_attachments.py::test_another_workspaces_file_cannot_be_attached",
        ),
        starts_with="stored is None or stored.workspace_id",
        replacement="stored is None",
    ),
    Deletion(
        "inboxes: changed credentials are proved before they are stored",
        "hub/api/inboxes.py",
        "InboxController.change_inbox",
        ("tests/hub/test_inbox_changes.py::test_credentials_the_channel_refuses_are_not_stored",),
        starts_with="await _prove_credentials(hub, inbox)",
    ),
    Deletion(
        "widget: replies the visitor was shown become read",
        "hub/connector_routes.py",
        "HubChannelServices.mark_read",
        (
            "tests/connectors/webchat/test_widget_http.py::test_replies_the_visitor_was_shown_become_read_for_the_agents",
        ),
        replacement="return 0",
    ),
    Deletion(
        "widget: a left message opens a ticket",
        "hub/ticket_rules.py",
        "open_for_left_messages",
        (
            "tests/connectors/webchat/test_widget_offline.py::"
            "test_a_left_message_opens_a_ticket_and_the_visitors_later_reply_reaches_it",
        ),
    ),
    Deletion(
        "widget: the offline form is offered only while closed or no agent has room",
        "hub/connector_routes.py",
        "HubChannelServices.agent_available",
        (
            "tests/connectors/webchat/test_widget_offline.py::"
            "test_config_offers_to_leave_a_message_while_closed_or_no_agent_has_room",
        ),
        replacement="return False",
    ),
    # hub/tickets.py, hub/sla_watch.py, hub/out_of_hours.py
    Deletion(
        "api: another workspace's row (a ticket, a webhook subscription...) is not found",
        "hub/api/dependencies.py",
        "workspace_row",
        (
            "tests/hub/test_tickets_api.py::test_another_workspace_can_neither_read_nor_change_nor_open_on_ours",
            "tests/hub/test_workspace_isolation.py::test_a_token_of_workspace_a_gets_404_for_every_object_of_workspace_b",
        ),
        starts_with="col(model.workspace_id) == caller.workspace_id",
        replacement="True",
    ),
    Deletion(
        "tickets: a status the lifecycle forbids answers 409",
        "hub/api/tickets.py",
        "TicketController.update_ticket",
        (
            "tests/hub/test_tickets_api.py::test_status_follows_the_lifecycle_and_forbidden_changes_answer_409",
        ),
        starts_with='raise ApiError(409, "invalid_transition"',
    ),
    Deletion(
        "tickets: a ticket opened from a conversation carries its summary",
        "hub/api/tickets.py",
        "TicketController.create_ticket",
        (
            "tests/hub/test_tickets_api.py::"
            "test_a_ticket_opened_from_a_conversation_links_it_and_the_agents_reply_is_its_first_response",
        ),
        starts_with="summary = (await conversation_summary",
    ),
    Deletion(
        "tickets: SLA due times follow the inbox's targets and business hours",
        "hub/tickets.py",
        "service_level",
        ("tests/hub/test_tickets_api.py::test_sla_due_times_count_only_business_hours",),
        replacement="return ServiceLevel()",
    ),
    Deletion(
        "tickets: an agent's reply is the ticket's first response",
        "hub/tickets.py",
        "agent_replied",
        (
            "tests/hub/test_tickets_api.py::"
            "test_a_ticket_opened_from_a_conversation_links_it_and_the_agents_reply_is_its_first_response",
        ),
        replacement="return []",
    ),
    Deletion(
        "tickets: a first response made late is still a breach",
        "hub/tickets.py",
        "next_sla_check",
        (
            "tests/hub/test_tickets_api.py::"
            "test_a_first_response_made_late_is_a_breach_even_when_the_watch_comes_after_it",
        ),
        replacement="return next_breach_check(*sla_snapshot(ticket))",
    ),
    Deletion(
        "tickets: two SLA watches at once emit a breach once",
        "hub/sla_watch.py",
        "watch_sla",
        (
            "tests/hub/test_tickets_api.py::test_the_sla_watch_emits_each_breach_once",
            "tests/production/test_sla_watch_on_postgresql.py::test_concurrent_watches_emit_each_breach_exactly_once",
        ),
        starts_with="if claimed.rowcount != 1:",
    ),
    Deletion(
        "tickets: the sweeper runs the SLA watch",
        "hub/sweeper.py",
        "run_sweeper",
        ("tests/hub/test_tickets_api.py::test_the_sweeper_loop_emits_a_breach",),
        starts_with="await watch_sla(hub)",
    ),
    Deletion(
        "tickets: the customer's message reopens a pending or solved ticket",
        "hub/tickets.py",
        "customer_wrote",
        (
            "tests/hub/test_tickets_api.py::"
            "test_the_customers_message_reopens_a_pending_or_solved_ticket_and_never_a_closed_one",
        ),
        replacement="return []",
    ),
    Deletion(
        "tickets: a new mail thread opens a ticket",
        "hub/inbound/process.py",
        "_open_tickets",
        (
            "tests/connectors/email/test_through_the_hub.py::"
            "test_a_new_thread_opens_a_ticket_and_the_agents_reply_is_its_first_response",
        ),
    ),
    Deletion(
        "out of hours: the customer is told and a ticket opens",
        "hub/out_of_hours.py",
        "answer_out_of_hours",
        ("tests/hub/test_business_hours.py::test_out_of_hours_the_customer_is_told_once_and_a_ticket_opens",),
    ),
    Deletion(
        "out of hours: one ticket per conversation",
        "hub/ticket_rules.py",
        "open_for_conversation",
        ("tests/hub/test_business_hours.py::test_out_of_hours_the_customer_is_told_once_and_a_ticket_opens",),
        starts_with="if already is not None:",
    ),
    Deletion(
        "crm: a webhook delivery failing past its give-up time disables its subscription",
        "hub/webhooks.py",
        "_disable",
        (
            "tests/hub/test_webhooks.py::test_a_failing_subscriber_is_disabled_with_the_reason_and_holds_no_other",
        ),
    ),
    Deletion(
        "crm: a delivery is found among its own subscription's only",
        "hub/api/webhooks.py",
        "_delivery",
        (
            "tests/hub/test_workspace_isolation.py::test_a_delivery_of_workspace_b_is_not_reached_through_a_subscription_of_a",
        ),
        starts_with="WebhookDelivery.subscription_id == subscription.id",
        replacement="True",
    ),
    Deletion(
        "crm: one delivery is read with its attempts",
        "hub/api/webhooks.py",
        "WebhookController.delivery",
        (
            "tests/hub/test_webhooks.py::test_a_receiver_answering_500_gets_the_same_event_again_then_a_replay",
        ),
    ),
    Deletion(
        "crm: every operation checks the token's scope",
        "hub/api/dependencies.py",
        "provide_caller",
        ("tests/hub/test_api_tokens.py::test_each_operation_is_checked_for_its_scope",),
        starts_with="caller.require(",
    ),
    Deletion(
        "crm: a repeated Idempotency-Key answers the first answer",
        "hub/api/idempotency.py",
        "IdempotencyKeys.handle",
        ("tests/hub/test_idempotency.py::test_a_repeated_post_answers_the_first_answer_and_creates_nothing",),
        starts_with="if first is not None:",
    ),
    Deletion(
        "contacts: inbound messages read national phone numbers in the workspace's region",
        "hub/inbound/process.py",
        "_identified",
        (
            "tests/hub/test_workspace_region.py::test_an_inbound_message_from_a_national_number_joins_the_contact_the_region_names",
        ),
        starts_with="normalize_identity(identity, default_region=item.region)",
        replacement="normalize_identity(identity)",
    ),
    Deletion(
        "contacts: erasure empties the messages of the contact's conversations",
        "hub/erasure.py",
        "erase_contact",
        (
            "tests/hub/test_contact_erasure.py::test_an_erased_contact_loses_its_data_and_messages_but_reports_keep_their_counts",
        ),
        starts_with="await session.execute(\n        update(Message)",
    ),
    Deletion(
        "lifecycle: after the reopen window the customer's message starts a linked conversation",
        "hub/inbound/process.py",
        "_joined",
        (
            "tests/hub/test_conversation_lifecycle.py::"
            "test_after_the_window_the_customers_wechat_message_starts_a_conversation_linked_to_the_resolved_one",
        ),
        starts_with="if applied.starts_follow_up:",
    ),
    Deletion(
        "lifecycle: an agent's reply reopens a resolved conversation before it is sent",
        "hub/outbound.py",
        "create_message",
        (
            "tests/hub/test_conversation_lifecycle.py::"
            "test_an_agents_reply_into_a_resolved_conversation_reopens_it_before_the_reply_is_recorded",
        ),
        starts_with="lifecycle.reopen_on_agent_reply(",
        replacement="[]",
    ),
    Deletion(
        "shifts: an agent off shift is not a candidate for assignment",
        "hub/assignment.py",
        "routing_snapshot",
        ("tests/hub/test_shifts.py::test_an_agent_off_shift_gets_nothing_until_their_shift_covers_now",),
        starts_with="schedule_from_config(agent.shifts) if",
        replacement="None",
    ),
    Deletion(
        "reports: the wait in the queue is recorded when an agent takes the conversation",
        "hub/handling.py",
        "assignee_changing",
        ("tests/hub/test_reports_api.py::test_figures_are_recorded_as_the_conversation_happens",),
        starts_with="_close_wait(conversation, now)",
    ),
    Deletion(
        "csat: a conversation is rated once",
        "hub/csat.py",
        "rate",
        ("tests/hub/test_csat.py::test_a_visitor_rates_their_resolved_conversation_once",),
        starts_with="or_(\n                    col(Conversation.csat_at)",
        replacement="True",
    ),
    Deletion(
        "bot: run_when decides whether a new conversation starts with the bot",
        "hub/inbound/process.py",
        "_let_the_bot_take",
        (
            "tests/hub/test_bot_conversations.py::test_out_of_hours_only_the_bot_is_silent_in_hours_and_answers_when_closed",
        ),
        starts_with="thread.conversation.status = ConversationStatus.BOT",
    ),
    Deletion(
        "bot: a reply delivered in the bot's own job is retried by a delivery job when its send fails",
        "hub/outbound.py",
        "deliver_claimed",
        (
            "tests/hub/test_bot_conversations.py::test_a_bot_reply_whose_send_fails_transiently_is_sent_again_by_a_delivery_job",
        ),
        starts_with="if retry_in is not None:",
    ),
    Deletion(
        "crm: a reply failing for good is a message.failed event",
        "hub/outbound.py",
        "_record_outcomes",
        ("tests/hub/test_crm_sync.py::test_a_reply_that_fails_for_good_reaches_the_crm_with_its_reason",),
        starts_with="if row.status == MessageStatus.FAILED and row.id not in failed_before:",
    ),
    Deletion(
        "crm: an upsert by external id updates the contact it finds",
        "hub/api/contacts.py",
        "ContactController.upsert_contact_by_external_id",
        ("tests/hub/test_crm_sync.py::test_a_crm_creates_then_updates_its_customer_by_its_own_id",),
        starts_with="if not synced.created:",
    ),
    Deletion(
        "crm: a receiver that is down gets one request per retry, not one per waiting delivery",
        "hub/webhooks.py",
        "_deliver_batches",
        (
            "tests/hub/test_crm_sync.py::test_a_receiver_that_is_down_gets_one_request_per_retry_not_one_per_waiting_event",
        ),
        starts_with="if not _accepted(first):",
    ),
    Deletion(
        "crm: a subscription waiting for its failing receiver has none of its deliveries claimed before its retry",
        "hub/webhooks.py",
        "_claim_due",
        (
            "tests/hub/test_webhooks.py::"
            "test_a_retry_round_of_a_receiver_that_is_down_sends_one_request_and_rewrites_no_waiting_row",
            "tests/hub/test_webhooks.py::test_a_delivery_falling_due_while_its_subscription_waits_is_held_by_the_wait_too",
        ),
        starts_with="subscription.enabled and _waiting_until(subscription, now) is not None",
        replacement="False",
    ),
    Deletion(
        "crm: deliveries dispatched to a waiting subscription are due with its next try",
        "hub/webhooks.py",
        "dispatch",
        (
            "tests/hub/test_webhooks.py::"
            "test_a_retry_round_of_a_receiver_that_is_down_sends_one_request_and_rewrites_no_waiting_row",
        ),
        starts_with="waiting_until or now",
        replacement="now",
    ),
    Deletion(
        "crm: a delivery claim skips the deliveries another job holds instead of waiting for them",
        "hub/webhooks.py",
        "_claim_due",
        (
            "tests/hub/test_webhooks.py::"
            "test_a_delivery_job_takes_the_deliveries_another_job_holds_no_longer_than_it_takes_its_own",
        ),
        starts_with="True",
        replacement="False",
    ),
    Deletion(
        "crm: a webhook job's retry comes when the last delivery it failed is due",
        "hub/webhooks.py",
        "_deliver_batches",
        ("tests/hub/test_webhooks.py::test_the_retry_a_job_asks_for_finds_every_delivery_it_failed_due",),
        starts_with="max(retry_at, due)",
        replacement="min(retry_at, due)",
    ),
    Deletion(
        "crm: a batch failing while its subscription already waits is held to that wait",
        "hub/webhooks.py",
        "_hold",
        (
            "tests/hub/test_webhooks.py::"
            "test_a_batch_failing_while_another_job_made_its_subscription_wait_is_held_to_that_wait",
        ),
        starts_with="follows, until = False, waiting_until",
    ),
    Deletion(
        "egress: a burst of POSTs reuses the connections the last burst gave back",
        "hub/egress/posts.py",
        "KeptConnections.give_back",
        ("tests/hub/test_egress_posts.py::test_a_burst_reuses_the_connections_the_last_burst_gave_back",),
    ),
    # admin_ui/admin.py: the admin pages
    Deletion(
        "admin pages: an agent who is not an admin gets the 403 page",
        "admin_ui/admin.py",
        "_admin",
        ("tests/admin_ui/test_admin_pages.py::test_an_agent_gets_the_403_page_and_no_admin_data",),
        starts_with='if caller.agent is None or "admin" not in caller.scopes:',
    ),
    Deletion(
        "admin pages: an inbox's page shows what to paste where",
        "admin_ui/admin.py",
        "inbox_page.build",
        (
            "tests/admin_ui/test_admin_pages.py::test_the_web_chat_inbox_page_shows_the_script_tag_to_paste_and_its_health",
            "tests/admin_ui/test_admin_pages.py::test_a_callback_channel_shows_its_callback_url_and_token",
        ),
        starts_with="facts = {**connector.describe()",
    ),
    Deletion(
        "admin pages: the new-inbox form has an input per setting of the channel",
        "admin_ui/admin.py",
        "setting_fields",
        (
            "tests/admin_ui/test_admin_pages.py::test_the_new_inbox_form_has_an_input_and_an_error_slot_for_each_setting_the_api_names",
        ),
        starts_with="fields.append(",
    ),
    Deletion(
        "admin pages: reports draw their bars",
        "admin_ui/charts.py",
        "bar_chart",
        (
            "tests/admin_ui/test_admin_pages.py::test_bar_heights_are_proportional_under_a_round_top",
            "tests/admin_ui/test_admin_pages.py::test_reports_show_the_figures_as_svg_charts_and_tables_with_csv_links",
        ),
        starts_with="bars.append(",
    ),
    Deletion(
        "admin pages: a Chinese browser gets Chinese pages",
        "admin_ui/i18n.py",
        "chosen_language",
        (
            "tests/admin_ui/test_admin_pages.py::test_the_browser_language_is_read_by_preference",
            "tests/admin_ui/test_admin_pages.py::test_language_and_theme_follow_the_browser_unless_a_cookie_says",
        ),
        starts_with='if tag.startswith("zh"):',
    ),
    Deletion(
        "labels: a PUT replaces the conversation's labels",
        "hub/labels.py",
        "replace_labels",
        (
            "tests/hub/test_conversation_labels.py::test_labels_replace_the_set_filter_the_list_and_are_counted",
        ),
        starts_with="if added:",
    ),
    Deletion(
        "labels: the conversation list filters by label",
        "hub/api/conversations.py",
        "ConversationController.list_conversations",
        (
            "tests/hub/test_conversation_labels.py::test_labels_replace_the_set_filter_the_list_and_are_counted",
        ),
        starts_with="if label is not None:",
    ),
    Deletion(
        "labels: a label is one word of letters, digits, - and _",
        "hub/labels.py",
        "normalised_labels",
        (
            "tests/hub/test_conversation_labels.py::test_a_bad_label_answers_400_naming_it_and_changes_nothing",
        ),
        starts_with="if label is None:",
    ),
    Deletion(
        "conversation search: q narrows the conversation list",
        "hub/api/conversations.py",
        "ConversationController.list_conversations",
        (
            "tests/hub/test_conversation_search.py::test_search_finds_messages_notes_and_customers_in_list_order",
        ),
        starts_with="if searched:",
    ),
    Deletion(
        "conversation search: q finds what was said in a conversation, notes included",
        "hub/search.py",
        "conversations_matching",
        (
            "tests/hub/test_conversation_search.py::test_search_finds_messages_notes_and_customers_in_list_order",
        ),
        starts_with="said.exists()",
        replacement="False",
    ),
    Deletion(
        "conversation search: q finds an email by its subject",
        "hub/search.py",
        "conversations_matching",
        (
            "tests/connectors/email/test_through_the_hub.py::test_the_conversation_list_finds_a_mail_by_its_subject",
        ),
        starts_with="message_subject().like(",
        replacement="False",
    ),
    Deletion(
        "conversation list: team_id filters on the server",
        "hub/api/conversations.py",
        "ConversationController.list_conversations",
        ("tests/hub/test_conversation_search.py::test_team_and_channel_filter_every_page",),
        starts_with="if team_id:",
    ),
    Deletion(
        "conversation list: channel filters on the server",
        "hub/api/conversations.py",
        "ConversationController.list_conversations",
        ("tests/hub/test_conversation_search.py::test_team_and_channel_filter_every_page",),
        starts_with="if channel:",
    ),
    Deletion(
        "agents: an admin changes an agent's role",
        "hub/api/agents.py",
        "AgentController.update_agent",
        ("tests/hub/test_agent_roles.py::test_an_admin_promotes_and_demotes_and_the_tokens_follow_at_once",),
        starts_with="if data.role is not None",
    ),
    Deletion(
        "agents: the workspace's last admin cannot be demoted",
        "hub/api/agents.py",
        "AgentController.update_agent",
        ("tests/hub/test_agent_roles.py::test_the_last_admin_cannot_be_demoted_even_by_themselves",),
        starts_with="if agent.role == AgentRole.ADMIN:",
    ),
    Deletion(
        "agents: a role or name change is audited",
        "hub/api/agents.py",
        "AgentController.update_agent",
        ("tests/hub/test_agent_roles.py::test_an_admin_promotes_and_demotes_and_the_tokens_follow_at_once",),
        starts_with="if changed:",
    ),
    Deletion(
        "canned responses: q finds short codes by their start and contents by a word",
        "hub/api/canned_responses.py",
        "CannedResponseController.list_canned_responses",
        (
            "tests/hub/test_canned_responses.py::test_admins_write_canned_responses_and_every_agent_finds_them",
        ),
        starts_with="if typed:",
    ),
    Deletion(
        "canned responses: a short code taken in the workspace answers 409",
        "hub/api/canned_responses.py",
        "_save",
        (
            "tests/hub/test_canned_responses.py::test_a_short_code_is_unique_in_the_workspace_and_not_across_workspaces",
        ),
        starts_with="if holder is not None:",
    ),
    Deletion(
        "notes: only its author or an admin deletes a note",
        "hub/api/messages.py",
        "MessageController.delete_note",
        ("tests/hub/test_conversation_notes.py::test_only_its_author_or_an_admin_deletes_a_note",),
        starts_with="if not written_by_caller",
    ),
    Deletion(
        "notes: a deleted note is announced to open inboxes",
        "hub/api/messages.py",
        "MessageController.delete_note",
        ("tests/hub/test_conversation_notes.py::test_the_author_deletes_a_note_and_open_inboxes_hear_of_it",),
        starts_with="await hub.publisher.publish(event",
    ),
    Deletion(
        "notes: the notes list holds notes alone",
        "hub/api/messages.py",
        "MessageController.list_notes",
        ("tests/hub/test_conversation_notes.py::test_notes_are_listed_apart_from_the_messages_and_paged",),
        starts_with="Message.direction == MessageDirection.NOTE",
        replacement="True",
    ),
    Deletion(
        "ticket comments: a public comment is sent to the customer as the agent's reply",
        "hub/api/tickets.py",
        "TicketController.comment",
        (
            "tests/hub/test_ticket_comments.py::test_an_internal_comment_stays_internal_and_a_public_one_reaches_the_customer",
        ),
        starts_with="reply = await write_message(",
        replacement="None",
    ),
    Deletion(
        "ticket comments: erasing a customer empties the comments on their tickets",
        "hub/erasure.py",
        "erase_contact",
        (
            "tests/hub/test_ticket_comments.py::test_erasing_the_customer_empties_the_comments_on_their_tickets",
        ),
        starts_with="await session.execute(\n        update(TicketComment)",
    ),
    Deletion(
        "contact delete: a customer with conversations is deleted only with erase=true",
        "hub/api/contacts.py",
        "ContactController.delete_contact",
        ("tests/hub/test_contact_delete.py::test_a_contact_with_conversations_is_deleted_only_with_erase",),
        starts_with="if not erase and",
    ),
    Deletion(
        "contact delete: erasing counts the conversations of the contacts merged into it too",
        "hub/erasure.py",
        "conversations_of",
        ("tests/hub/test_contact_delete.py::test_a_contact_with_conversations_is_deleted_only_with_erase",),
        replacement="return 0",
    ),
    Deletion(
        "paging: a cursor the API did not make answers 400 on every list",
        "hub/api/paging.py",
        "id_page",
        ("tests/hub/test_paging.py::test_the_lists_of_every_module_walk_page_by_page",),
        starts_with="if cursor is not None and not looks_like_id(cursor):",
    ),
    Deletion(
        "bare-array paging: a cursor made for another list answers 400 invalid_cursor",
        "hub/api/paging.py",
        "array_cursor_key",
        (
            "tests/hub/test_paging.py::test_the_bare_arrays_page_by_link_header_and_answer_whole_when_not_asked",
        ),
        starts_with="if name != list_name:",
    ),
    Deletion(
        "bare-array paging: a page names the next one in a Link header",
        "hub/api/paging.py",
        "array_page",
        (
            "tests/hub/test_paging.py::test_the_bare_arrays_page_by_link_header_and_answer_whole_when_not_asked",
        ),
        replacement="return Response(items)",
    ),
    Deletion(
        "queue paging: a page resumes after the last entry's queue position",
        "hub/api/paging.py",
        "array_slice",
        (
            "tests/hub/test_paging.py::test_the_bare_arrays_page_by_link_header_and_answer_whole_when_not_asked",
        ),
        starts_with="bisect_right(",
        replacement="0",
    ),
    Deletion(
        "inbox list: each row's customer name and last message",
        "hub/conversation_summaries.py",
        "conversation_summaries",
        (
            "tests/hub/test_conversation_summaries.py::test_each_listed_conversation_has_its_customer_and_last_message_masked_without_notes",
            "tests/hub/test_conversation_summaries.py::test_a_long_last_message_is_cut_for_the_row",
        ),
        replacement="return {}",
    ),
    # Issue 16 and 14: pages in the conversation, merges and erasure; ratings and handle time after a reopen
    Deletion(
        "journey: the conversation view shows its contact's pages",
        "hub/api/conversations.py",
        "ConversationController.get_conversation",
        (
            "tests/connectors/webchat/test_visitor_journey.py::"
            "test_the_conversation_shows_its_contacts_pages_which_a_merge_moves_and_its_undo_gives_back",
        ),
        starts_with="await journey.recent_pages(",
        replacement="[]",
    ),
    Deletion(
        "customers: a merge moves the merged contact's pages",
        "hub/customers.py",
        "merge_contacts",
        (
            "tests/connectors/webchat/test_visitor_journey.py::"
            "test_the_conversation_shows_its_contacts_pages_which_a_merge_moves_and_its_undo_gives_back",
        ),
        starts_with="await session.execute(\n        update(PageView)",
    ),
    Deletion(
        "customers: undoing a merge gives the merged contact's pages back",
        "hub/customers.py",
        "undo_merge",
        (
            "tests/connectors/webchat/test_visitor_journey.py::"
            "test_the_conversation_shows_its_contacts_pages_which_a_merge_moves_and_its_undo_gives_back",
        ),
        starts_with="await session.execute(\n        update(PageView)",
    ),
    Deletion(
        "erasure: the contact's open conversations are resolved and leave the queue",
        "hub/lifecycle.py",
        "close_for_erasure",
        (
            "tests/hub/test_contact_erasure.py::"
            "test_erasing_closes_open_conversations_silently_and_erases_rating_comments",
        ),
        starts_with="emitted.append(",
    ),
    Deletion(
        "erasure: rating comments are erased",
        "hub/erasure.py",
        "erase_contact",
        (
            "tests/hub/test_contact_erasure.py::"
            "test_erasing_closes_open_conversations_silently_and_erases_rating_comments",
        ),
        starts_with="await session.execute(\n        update(Conversation)",
    ),
    Deletion(
        "csat: a reopened conversation may be rated again after its next resolution",
        "hub/csat.py",
        "rate",
        ("tests/hub/test_csat.py::test_a_reopened_conversation_may_be_rated_again_once_resolved_again",),
        starts_with="or_(\n                    col(Conversation.csat_at)",
        replacement="col(Conversation.csat_rating).is_(None)",
    ),
    Deletion(
        "handling: a reopened conversation's agent starts a new handling span",
        "hub/handling.py",
        "reopened",
        (
            "tests/hub/test_reopen_handling.py::"
            "test_an_agents_reopen_and_a_customers_message_start_a_new_handling_span",
        ),
    ),
    Deletion(
        "bot: a customer asking for a ticket gets one",
        "hub/bot.py",
        "_decide",
        (
            "tests/hub/test_bot_conversations.py::"
            "test_asking_the_bot_for_a_ticket_opens_one_with_the_summary_and_only_one",
        ),
        starts_with="if text and asks_for_ticket(text):",
    ),
    # Issue 18: the widget's visitor typing reaches the agents; a limited socket message says when to retry
    Deletion(
        "webchat: the visitor's typing is relayed to the workspace's agents",
        "hub/connector_routes.py",
        "HubChannelServices.customer_typing",
        (
            "tests/connectors/webchat/test_visitor_socket.py::"
            "test_typing_reaches_the_workspaces_agents_once_per_interval_and_no_other_workspace",
        ),
        starts_with="await self._hub.publisher.publish(",
    ),
    Deletion(
        "webchat: the visitor's typing is throttled",
        "hub/connector_routes.py",
        "HubChannelServices.customer_typing",
        (
            "tests/connectors/webchat/test_visitor_socket.py::"
            "test_typing_reaches_the_workspaces_agents_once_per_interval_and_no_other_workspace",
        ),
        starts_with="if await self._rate_limiter.hit(",
    ),
    Deletion(
        "webchat: a rate-limited socket message says when to retry",
        "connectors/webchat/routes.py",
        "_refusal_frame",
        (
            "tests/connectors/webchat/test_visitor_socket.py::"
            "test_a_refused_message_is_named_in_its_error_frame_with_the_wait_when_limited",
        ),
        starts_with="int(retry_after)",
        replacement="None",
    ),
    Deletion(
        "inbox: the modules get the texts of the browser's language",
        "admin_ui/pages.py",
        "inbox_page",
        (
            "tests/admin_ui/test_inbox_pages.py::test_the_inbox_speaks_the_browsers_chinese_unless_the_cookie_says_english",
        ),
        starts_with="script_texts(language)",
        replacement="{}",
    ),
    Deletion(
        "inbox: sign-in never returns to another site",
        "admin_ui/pages.py",
        "safe_return_path",
        ("tests/admin_ui/test_inbox_pages.py::test_sign_in_never_returns_to_another_site",),
        starts_with="if (",
    ),
    Deletion(
        "admin pages: signed out, the sign-in returns to the page asked for",
        "admin_ui/admin.py",
        "_admin",
        ("tests/admin_ui/test_admin_pages.py::test_signed_out_or_expired_goes_to_the_inbox_sign_in",),
        starts_with='f"/inbox?',
        replacement='"/inbox"',
    ),
    Deletion(
        "conversation view: the subject an email reply keeps",
        "hub/api/conversations.py",
        "ConversationController.get_conversation",
        ("tests/hub/test_reply_subject.py::test_an_email_like_conversation_shows_the_subject_replies_keep",),
        starts_with="await thread_subject(",
        replacement="None",
    ),
    Deletion(
        "conversation view: the subject line a reply goes out with, as its connector sends it",
        "hub/api/conversations.py",
        "ConversationController.get_conversation",
        ("tests/hub/test_reply_subject.py::test_an_email_like_conversation_shows_the_subject_replies_keep",),
        starts_with="connector.reply_subject(",
        replacement="subject",
    ),
    Deletion(
        "conversation view: whether replies are billed per SMS segment",
        "hub/api/conversations.py",
        "ConversationController.get_conversation",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_text_in_is_stored_once_however_often_twilio_retries_it",
        ),
        starts_with="capabilities.billed_per_sms_segment",
        replacement="False",
    ),
    Deletion(
        "email: a reply's subject carries one Re: whatever prefixes the customer's client stacked",
        "connectors/email/thread_ids.py",
        "reply_subject",
        ("tests/connectors/email/test_text.py::test_reply_subjects_carry_one_re",),
        replacement='return f"Re: {subject}"',
    ),
    Deletion(
        "mentions: a note names only agents of its own workspace",
        "hub/mentions.py",
        "agents_named",
        ("tests/hub/test_mentions.py::test_a_note_records_a_mention_for_the_named_agents_only",),
        starts_with="Agent.workspace_id == workspace_id",
        replacement="True",
    ),
    Deletion(
        "mentions: a note's author is not mentioned",
        "hub/mentions.py",
        "agents_named",
        ("tests/hub/test_mentions.py::test_a_note_records_a_mention_for_the_named_agents_only",),
        starts_with="agent_id != author_id",
        replacement="True",
    ),
    Deletion(
        "mentions: recorded with the note",
        "hub/outbound.py",
        "create_message",
        (
            "tests/hub/test_mentions.py::test_a_note_records_a_mention_for_the_named_agents_only",
            "tests/hub/test_mentions.py::test_opening_the_conversation_marks_its_mentions_read",
        ),
        starts_with="mentions.add_mentions(",
        replacement="None",
    ),
    Deletion(
        "mentions: a deleted note's mentions go with it",
        "hub/api/messages.py",
        "MessageController.delete_note",
        ("tests/hub/test_mentions.py::test_a_deleted_note_takes_its_mentions_with_it",),
        starts_with="await session.execute(sql_delete(Mention)",
    ),
    Deletion(
        "mentions: unread=true lists the unread ones only",
        "hub/api/mentions.py",
        "MentionController.list_mentions",
        ("tests/hub/test_mentions.py::test_opening_the_conversation_marks_its_mentions_read",),
        starts_with="if unread:",
    ),
    # Twilio SMS: signed webhooks in, status callbacks moving replies on, Twilio's reasons shown to agents
    Deletion(
        "twilio sms: a webhook whose X-Twilio-Signature does not match is refused",
        "connectors/sms/webhooks.py",
        "WebhookReader.verify",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_request_twilio_did_not_sign_is_refused_and_stores_nothing",
            "tests/connectors/sms/test_through_the_hub.py::test_a_forged_status_callback_changes_nothing",
        ),
        starts_with="if not self._validator.validate(",
    ),
    Deletion(
        "twilio sms: a webhook for another Twilio account is refused",
        "connectors/sms/webhooks.py",
        "WebhookReader.verify",
        (
            "tests/connectors/test_contract.py::TestEveryRegisteredConnector::test_forged_requests_refused[twilio_sms]",
        ),
        starts_with="if account is not None and account != self._settings.account_sid:",
    ),
    Deletion(
        "twilio sms: MMS media is copied into the hub",
        "connectors/sms/connector.py",
        "TwilioSmsConnector.enrich",
        (
            "tests/connectors/sms/test_connector.py::test_mms_media_is_copied_into_the_hub_and_kept_as_a_reference_when_it_cannot_be",
        ),
        replacement="return message",
    ),
    Deletion(
        "delivery reports: a channel's status callback moves the reply on",
        "hub/delivery_reports.py",
        "apply_delivery_reports",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_reply_goes_out_through_the_messages_api_and_status_callbacks_move_it_on",
            "tests/connectors/sms/test_through_the_hub.py::test_an_undelivered_reply_fails_with_a_reason_an_agent_can_read",
        ),
        starts_with="message.status = MessageStatus(report.status)",
    ),
    Deletion(
        "delivery reports: a late report never moves a reply back",
        "hub/delivery_reports.py",
        "apply_delivery_reports",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_reply_goes_out_through_the_messages_api_and_status_callbacks_move_it_on",
            "tests/connectors/sms/test_through_the_hub.py::test_a_kept_report_older_than_what_was_applied_meanwhile_changes_nothing",
        ),
        starts_with="if message.status not in _MOVES_FROM[report.status]:",
    ),
    Deletion(
        "batching: a batch that fails and is split is counted",
        "hub/batching.py",
        "Batcher._run",
        (
            "tests/hub/test_batching.py::test_each_split_is_counted_so_that_a_handle_failing_every_batch_of_several_shows",
        ),
        starts_with="self.splits += 1",
    ),
    Deletion(
        "delivery reports: the send's outcome recorded after a report of delivery keeps it",
        "hub/outbound.py",
        "_record_outcome_statement",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_status_callback_that_beats_the_sends_answer_is_not_overwritten_by_it[delivered-delivered]",
        ),
        starts_with="or_(columns.status == MessageStatus.READ, columns.status == MessageStatus.DELIVERED)",
        replacement="columns.status == MessageStatus.READ",
    ),
    Deletion(
        "delivery reports: the send's outcome recorded after a report of failure keeps it",
        "hub/outbound.py",
        "_record_outcome_statement",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_status_callback_that_beats_the_sends_answer_is_not_overwritten_by_it[undelivered-failed]",
        ),
        starts_with="(reported_failed, columns.status)",
        replacement="(columns.status == MessageStatus.READ, columns.status)",
    ),
    Deletion(
        "delivery reports: a report the database cannot take is kept in the spool and answered 200",
        "hub/spool.py",
        "Spool.report",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_status_callback_during_a_database_outage_is_acknowledged_and_applied_once_when_it_returns[delivered-delivered]",
            "tests/connectors/sms/test_through_the_hub.py::test_a_kept_report_older_than_what_was_applied_meanwhile_changes_nothing",
            "tests/production/test_outages.py::test_a_status_callback_during_a_database_outage_is_acknowledged_and_applied_once_the_database_returns",
        ),
        starts_with="self._keep(hub, inbox, SpooledDelivery(",
        replacement="delivery_reports.apply_delivery_reports(hub, inbox, reports)",
    ),
    Deletion(
        "delivery reports: a kept report is applied when the database returns",
        "hub/spool.py",
        "_into_database",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_status_callback_during_a_database_outage_is_acknowledged_and_applied_once_when_it_returns[undelivered-failed]",
        ),
        starts_with="await delivery_reports.apply_delivery_reports(",
    ),
    Deletion(
        "delivery reports: a reply a report failed before the send's answer was recorded is announced failed once",
        "hub/outbound.py",
        "_record_outcomes",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_status_callback_that_beats_the_sends_answer_is_not_overwritten_by_it[undelivered-failed]",
        ),
        starts_with="row.status == MessageStatus.FAILED and row.id not in failed_before",
        replacement="row.status == MessageStatus.FAILED",
    ),
    Deletion(
        "webhooks: a request whose signature fails is refused before anything is stored or kept",
        "hub/channel_webhooks.py",
        "_handle",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_forged_status_callback_during_a_database_outage_is_refused_and_nothing_is_kept",
            "tests/connectors/sms/test_through_the_hub.py::test_a_forged_status_callback_changes_nothing",
            "tests/production/test_outages.py::test_a_status_callback_during_a_database_outage_is_acknowledged_and_applied_once_the_database_returns",
        ),
        starts_with="connector.verify(raw)",
    ),
    Deletion(
        "twilio sms: Twilio's error codes are explained to the agent",
        "connectors/sms/errors.py",
        "explain_error_code",
        (
            "tests/connectors/sms/test_through_the_hub.py::test_a_reply_to_an_unsubscribed_number_fails_with_twilios_reason",
            "tests/connectors/sms/test_through_the_hub.py::test_an_undelivered_reply_fails_with_a_reason_an_agent_can_read",
        ),
    ),
    Deletion(
        "twilio sms: escaped GSM-7 characters cost two septets",
        "connectors/sms/segments.py",
        "sms_segments",
        ("tests/connectors/sms/test_segments.py::test_segments_and_encoding",),
        starts_with="units = sum(2 if character in GSM7_EXTENSION else 1 for character in text)",
        replacement="units = len(text)",
    ),
)


def apply(deletion: Deletion, source: str) -> str:
    """`source` (of `deletion.module`) with the deletion made; SpecError when its target is not found once."""
    tree = ast.parse(source)
    function = _function(tree, deletion.function, deletion.module)
    lines = source.encode().splitlines(keepends=True)
    if deletion.starts_with is None:
        start, end = function.body[0], function.body[-1]
        span = (start.lineno, start.col_offset, end.end_lineno, end.end_col_offset)
        replacement = deletion.replacement or "return None"
    else:
        node = _located(function, source, deletion)
        span = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        if isinstance(node, ast.ExceptHandler):
            replacement = ""
        elif isinstance(node, ast.stmt):
            replacement = deletion.replacement or "pass"
        elif deletion.replacement is None:
            raise SpecError(f"{deletion.name}: an expression needs a replacement")
        else:
            replacement = deletion.replacement
    changed = _spliced(lines, span, replacement)
    try:
        ast.parse(changed)
    except SyntaxError as error:
        raise SpecError(f"{deletion.name}: the deletion leaves invalid Python ({error})") from None
    return changed


def _function(tree: ast.Module, qualified_name: str, module: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    scope: list[ast.stmt] = tree.body
    found: ast.AST | None = None
    for part in qualified_name.split("."):
        found = next(
            (
                node
                for node in scope
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == part
            ),
            None,
        )
        if found is None:
            raise SpecError(f"{module} has no {qualified_name}")
        scope = found.body
    if not isinstance(found, ast.FunctionDef | ast.AsyncFunctionDef):
        raise SpecError(f"{module}: {qualified_name} is not a function")
    return found


def _located(function: ast.AST, source: str, deletion: Deletion) -> Located:
    """The outermost node inside `function` whose source starts with `deletion.starts_with`, if it is the only one."""
    assert deletion.starts_with is not None
    lines = source.encode().splitlines(keepends=True)
    matches = [
        node
        for node in _inner_nodes(function)
        if _source_segment(lines, node).startswith(deletion.starts_with)
    ]
    outermost = [
        node for node in matches if not any(_contains(other, node) for other in matches if other is not node)
    ]
    if len(outermost) != 1:
        raise SpecError(
            f"{deletion.name}: {len(outermost)} places in {deletion.module}:{deletion.function} "
            f"start with {deletion.starts_with!r}; a deletion needs exactly one"
        )
    return outermost[0]


def _source_segment(lines: list[bytes], node: Located) -> str:
    """`ast.get_source_segment` over lines split once: it splits the whole module again for every node."""
    assert node.end_lineno is not None and node.end_col_offset is not None
    if node.lineno == node.end_lineno:
        return lines[node.lineno - 1][node.col_offset : node.end_col_offset].decode()
    first = lines[node.lineno - 1][node.col_offset :]
    last = lines[node.end_lineno - 1][: node.end_col_offset]
    return b"".join([first, *lines[node.lineno : node.end_lineno - 1], last]).decode()


def _inner_nodes(function: ast.AST) -> Iterator[Located]:
    for node in ast.walk(function):
        if node is not function and isinstance(node, ast.stmt | ast.expr | ast.ExceptHandler):
            yield node


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))


def _spliced(lines: list[bytes], span: tuple[int, int, int | None, int | None], replacement: str) -> str:
    """Replace the span (AST positions: 1-based lines, UTF-8 byte columns) by `replacement`, indented to its column."""
    first_line, first_column, last_line, last_column = span
    assert last_line is not None and last_column is not None
    indent = b" " * first_column
    text = replacement.encode().replace(b"\n", b"\n" + indent)
    before = lines[first_line - 1][:first_column]
    after = lines[last_line - 1][last_column:]
    return b"".join([*lines[: first_line - 1], before + text + after, *lines[last_line:]]).decode()


@dataclass(frozen=True, slots=True)
class Outcome:
    deletion: Deletion
    caught: bool
    seconds: float
    output: str
    timed_out: bool = False
    """The tests hung without the feature (a retry loop that never ends): they did not pass."""


PROJECT_PACKAGES = ("hub", "connectors", "normalizer", "routing", "admin_ui", "tests")
"""Imported afresh by each deletion's test run, after the deletion is made; never by a zygote."""
MIGRATED_TEMPLATE = "DELETION_CHECK_MIGRATED_TEMPLATE"
DEMO_TEMPLATE = "DELETION_CHECK_DEMO_TEMPLATE"
"""The variables tests/conftest.py reads for templates built elsewhere."""


@dataclass(frozen=True, slots=True)
class Templates:
    """The test databases built once from the unchanged tree, with the project functions that ran to build them.

    A deletion changes only what its function does when called, so a template built without calling it is the
    one the deletion's own session would build: that session may use it instead of building its own."""

    migrated: Path
    demo: Path
    ran_for_migrated: frozenset[str]
    ran_for_demo: frozenset[str]
    """`module::qualified.name` of each function that ran, from the imports on; the demo's include the migration's."""
    libraries: tuple[str, ...]
    """The modules outside the project that building imported, in order: what a zygote imports before forking."""

    def environment(self, deletion: Deletion, source: str) -> dict[str, str]:
        """The prebuilt templates the deletion cannot have changed, as conftest's variables."""
        target = f"{deletion.module}::{deletion.function}"
        if not _changes_only_calls(deletion, source) or target in self.ran_for_migrated:
            return {}
        if target in self.ran_for_demo:
            return {MIGRATED_TEMPLATE: str(self.migrated)}
        return {MIGRATED_TEMPLATE: str(self.migrated), DEMO_TEMPLATE: str(self.demo)}


def _changes_only_calls(deletion: Deletion, source: str) -> bool:
    """Whether the deletion is inside the function's body, which runs only when it is called (a default value, an
    annotation or a decorator runs when the function is defined)."""
    function = _function(ast.parse(source), deletion.function, deletion.module)
    if deletion.starts_with is None:
        return True
    node = _located(function, source, deletion)
    return any(_contains(statement, node) for statement in function.body)


def build_templates(copy: Path, directory: Path) -> Templates:
    """Build the templates in a process of their own, importing the unchanged copy's code."""
    directory.mkdir()
    subprocess.run(
        [sys.executable, "-c", _calling_this_script("_build_templates_here(sys.argv[1])"), str(directory)],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy)},
        check=True,
    )
    built = json.loads((directory / "built.json").read_text())
    return Templates(
        migrated=Path(built["migrated"]),
        demo=Path(built["demo"]),
        ran_for_migrated=frozenset(built["ran_for_migrated"]),
        ran_for_demo=frozenset(built["ran_for_demo"]),
        libraries=tuple(built["libraries"]),
    )


def _calling_this_script(call: str) -> str:
    return f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import deletion_check; deletion_check.{call}"


def _build_templates_here(directory: str) -> None:
    """In the copy: build both templates as conftest's fixtures do, noting every function that runs (in any thread)."""
    ran: set[tuple[str, str]] = set()

    def note(frame: FrameType, event: str, _: object) -> None:
        if event == "call":
            ran.add((frame.f_code.co_filename, frame.f_code.co_qualname))

    sys.setprofile(note)
    threading.setprofile(note)
    import tests.conftest as fixtures

    with fixtures.offline_name_lookups():
        migrated = fixtures.build_migrated_template(Path(directory, "migrated"))
        ran_for_migrated = ran.copy()
        Path(directory, "demo").mkdir()
        demo = fixtures.build_demo_template(Path(directory, "demo"), migrated)
    sys.setprofile(None)
    threading.setprofile(None)
    libraries = [
        name for name in list(sys.modules) if name.split(".")[0] not in (*PROJECT_PACKAGES, "deletion_check")
    ]
    built = {
        "migrated": str(migrated),
        "demo": str(demo),
        "ran_for_migrated": _project_functions(ran_for_migrated),
        "ran_for_demo": _project_functions(ran),
        "libraries": [name for name in libraries if name != "__main__"],
    }
    Path(directory, "built.json").write_text(json.dumps(built))


def _project_functions(ran: set[tuple[str, str]]) -> list[str]:
    """`module::qualified.name`, as deletions name them (a nested function's name has no `<locals>`)."""
    copy = Path.cwd().resolve()
    return sorted(
        f"{Path(filename).resolve().relative_to(copy).as_posix()}::{name.replace('.<locals>', '')}"
        for filename, name in ran
        if Path(filename).resolve().is_relative_to(copy)
    )


class Zygote:
    """A process in one copy that imports pytest, its plugins and the libraries once, and forks a child per test
    run; the child imports the project's packages afresh, so each run sees the copy's code as it is then."""

    def __init__(self, copy: Path, libraries: Sequence[str]) -> None:
        self.copy = copy
        self.output = copy.parent / f"{copy.name}-output.txt"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _calling_this_script("_serve_forks(sys.argv[1:])"), *libraries],
            cwd=copy,
            env={**os.environ, "PYTHONPATH": str(copy), "OMNIHUB_TEST_WAIT_SECONDS": DELETED_WAIT_SECONDS},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, tests: Sequence[str], environment: dict[str, str]) -> tuple[int | None, str]:
        """pytest's exit status for `tests` (None when they ran out of time) and its output."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"tests": list(tests), "environment": environment, "output": str(self.output)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise SpecError(f"the zygote in {self.copy} exited ({self.process.wait()})")
        return json.loads(answer)["status"], self.output.read_text(errors="replace")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _serve_forks(libraries: Sequence[str]) -> None:
    """The zygote's loop: one JSON request a line on stdin, one JSON answer a line on stdout."""
    import importlib
    from importlib.metadata import entry_points

    from _pytest.config import default_plugins

    for name in [*libraries, *(f"_pytest.{plugin}" for plugin in default_plugins)]:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for plugin in entry_points(group="pytest11"):
        plugin.load()
    imported = sorted(name for name in sys.modules if name.split(".")[0] in PROJECT_PACKAGES)
    if imported:
        raise SpecError(f"the zygote imported the project's {imported}: a deletion would not reach them")
    gc.freeze()
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps({"status": _forked_pytest(request)}), flush=True)


def _forked_pytest(request: dict[str, Any]) -> int | None:
    """Run pytest on the request's tests in a forked child; kill the child and its processes when out of time."""
    if threading.active_count() != 1:
        raise SpecError("the zygote started a thread: forking would copy it half-way through its work")
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        _run_pytest_and_exit(request)
    deadline = time.monotonic() + TEST_TIMEOUT_SECONDS
    while True:
        finished, status = os.waitpid(child, os.WNOHANG)
        if finished:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.killpg(child, signal.SIGKILL)
            os.waitpid(child, 0)
            return None
        time.sleep(0.05)


def _run_pytest_and_exit(request: dict[str, Any]) -> NoReturn:
    status = 3
    try:
        os.setsid()
        output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.environ.update(request["environment"])
        random.seed()
        import pytest

        # pytest would rewrite the asserts of its plugins, but the zygote imported them before it could.
        arguments = ["-x", "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
        status = int(pytest.main([*arguments, *request["tests"]]))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


@dataclass(frozen=True, slots=True)
class Worker:
    copy: Path
    zygote: Zygote


def check(deletion: Deletion, worker: Worker, templates: Templates) -> Outcome:
    """Apply the deletion to the copy, run its tests, put the file back. Caught means the tests failed."""
    path = worker.copy / deletion.module
    original = path.read_text()
    environment = templates.environment(deletion, original)
    _write_source(path, apply(deletion, original))
    started = time.monotonic()
    try:
        status, output = worker.zygote.run(deletion.tests, environment)
    finally:
        _write_source(path, original)
    seconds = time.monotonic() - started
    if status is None:
        return Outcome(deletion, caught=True, seconds=seconds, output=output[-5000:], timed_out=True)
    if status not in (0, 1):
        raise SpecError(f"{deletion.name}: pytest exited {status} (not a test failure):\n{output[-5000:]}")
    return Outcome(deletion, caught=status == 1, seconds=seconds, output=output[-5000:])


def _write_source(path: Path, source: str) -> None:
    """Write the module and drop its cached bytecode, which Python would trust if size and mtime second matched."""
    path.write_text(source)
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink()


def copy_tree(destination: Path) -> Path:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def _imports_the_copy(copy: Path) -> None:
    """The check is void if the tests import the checkout's code: prove they import the copy's."""
    found = subprocess.run(
        [sys.executable, "-c", "import hub, connectors; print(hub.__file__); print(connectors.__file__)"],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not all(Path(path).is_relative_to(copy) for path in found):
        raise SpecError(f"the tests would import {found}, not the copy in {copy}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", "--select", default="", help="only deletions whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the deletions and their tests, run nothing")
    parser.add_argument(
        "--jobs", type=int, default=2, help="deletions checked at once (each in its own copy)"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip running the named tests on the unchanged tree first (when the suite runs them anyway)",
    )
    arguments = parser.parse_args(argv)
    selected = [deletion for deletion in DELETIONS if arguments.select in deletion.name]
    try:
        for deletion in selected:
            apply(deletion, (ROOT / deletion.module).read_text())
    except SpecError as broken:
        print(f"BROKEN SPEC: {broken}", file=sys.stderr)
        return 2
    if arguments.list:
        for deletion in selected:
            target = deletion.function + (f" / {deletion.starts_with!r}" if deletion.starts_with else "")
            print(f"{deletion.name}\n  {deletion.module}: {target}")
            for test in deletion.tests:
                print(f"  must fail: {test}")
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="omnihub-deletions-") as scratch:
        copies = [copy_tree(Path(scratch) / f"copy{number}") for number in range(max(1, arguments.jobs))]
        _imports_the_copy(copies[0])
        templates = build_templates(copies[0], Path(scratch) / "templates")
        workers = [Worker(copy, Zygote(copy, templates.libraries)) for copy in copies]
        try:
            return _run(selected, workers, templates, baseline=not arguments.no_baseline, started=started)
        except SpecError as broken:
            print(f"BROKEN SPEC: {broken}", file=sys.stderr)
            return 2
        finally:
            for worker in workers:
                worker.zygote.close()


def _run(
    selected: list[Deletion], workers: list[Worker], templates: Templates, *, baseline: bool, started: float
) -> int:
    if baseline:
        tests = list(dict.fromkeys(test for deletion in selected for test in deletion.tests))
        status, output = workers[0].zygote.run(tests, {})
        if status != 0:
            print(f"BASELINE FAILS: the named tests fail on the unchanged tree\n{output[-4000:]}")
            return 2
        print(f"baseline: the {len(tests)} named tests pass on the unchanged tree", flush=True)
    outcomes = _check_all(selected, workers, templates)
    survivors = [outcome for outcome in outcomes if not outcome.caught]
    print(
        f"{len(outcomes) - len(survivors)} of {len(outcomes)} deletions caught "
        f"in {time.monotonic() - started:.0f}s"
    )
    for outcome in survivors:
        print(f"\n--- {outcome.deletion.name}: these tests still pass without it\n{outcome.output}")
    return 1 if survivors else 0


def _verdict(outcome: Outcome) -> str:
    verdict = "timed out" if outcome.timed_out else "caught" if outcome.caught else "SURVIVED"
    return f"{verdict:9} {outcome.seconds:5.1f}s  {outcome.deletion.name}"


def _check_all(selected: list[Deletion], workers: list[Worker], templates: Templates) -> list[Outcome]:
    """Each copy takes the next deletion when it is free. Those that must build their own templates (the slowest)
    go first, so no copy is left with a long one at the end."""
    by_templates_built = sorted(
        selected,
        key=lambda deletion: len(templates.environment(deletion, (ROOT / deletion.module).read_text())),
    )
    pending: queue.SimpleQueue[Deletion] = queue.SimpleQueue()
    for deletion in by_templates_built:
        pending.put(deletion)

    def check_pending(worker: Worker) -> list[Outcome]:
        outcomes = []
        while True:
            try:
                deletion = pending.get_nowait()
            except queue.Empty:
                return outcomes
            outcome = check(deletion, worker, templates)
            print(_verdict(outcome), flush=True)
            outcomes.append(outcome)

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        results = list(pool.map(check_pending, workers))
    by_deletion = {outcome.deletion: outcome for share in results for outcome in share}
    return [by_deletion[deletion] for deletion in selected]


if __name__ == "__main__":
    sys.exit(main())
