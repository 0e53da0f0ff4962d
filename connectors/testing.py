"""Contract test kit: the checks every connector must pass, whoever wrote it.

A connector package ships a module `contract` with a `profile() -> ContractProfile`
(its fixtures). Subclass `ConnectorContract` in a test module and provide a `profile`
fixture; the hub's own suite runs it over every registered kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest
import respx
from pydantic import SecretStr, ValidationError

from connectors.attachments import AttachmentContent, download
from connectors.base import (
    Connect,
    Connector,
    ConnectorContext,
    CredentialsRefused,
    CredentialsUnchecked,
    DestinationRefused,
    InboxRef,
    MalformedPayload,
    OutboundMessage,
    ParsingConnector,
    PermanentSendError,
    PollingConnector,
    PollResult,
    Push,
    RawRequest,
    SendResult,
    SignatureInvalid,
    TransientSendError,
    WebhookConnector,
)
from normalizer import IdentityKind, IdentityRef

__all__ = [
    "ConnectorContract",
    "ContractProfile",
    "LiveSource",
    "MemorySharedStore",
    "PushRecorder",
    "load_profile",
    "make_context",
    "no_server_here",
    "raw_request",
]

CHANNEL_ANSWERS: list[tuple[int | Exception, type[Exception]]] = [
    (429, TransientSendError),
    (500, TransientSendError),
    (503, TransientSendError),
    (400, PermanentSendError),
    (403, PermanentSendError),
    (404, PermanentSendError),
    (httpx.ConnectError("connection refused"), TransientSendError),
    (DestinationRefused("api.example.test", "loopback"), PermanentSendError),
]
"""What a channel's API may answer a send (an HTTP status, or a transport error), and the contract error it must become.

A destination the hub's egress policy refuses must fail the message, never be retried: let DestinationRefused (a
PermanentSendError) through."""
MAX_REPLAY_WINDOW = timedelta(days=1)

TEST_INBOX = InboxRef(
    id="inbox-contract",
    workspace_id="workspace-contract",
    name="Contract inbox",
    public_token="pub-contract",
    public_url="https://hub.example.test",
)


class LiveSource(Protocol):
    """A real server on this machine for a connector that does not speak HTTP (a mail server), which the kit cannot
    mock with respx: it proves credentials, takes sends, and, for a pull connector, holds what the kit delivers."""

    settings: dict[str, Any]
    """Valid settings that reach the server with working credentials."""

    @property
    def connect(self) -> Connect:
        """Reaches the server (the kit's contexts use it as their `connect`)."""
        ...

    async def deliver(self, raw: RawRequest) -> None:
        """Put one of the profile's inbound requests where the connector's polling will find it."""
        ...


@dataclass
class ContractProfile:
    """A connector's fixtures for the contract kit."""

    connector: type[Connector]
    valid_settings: dict[str, Any]
    invalid_settings: list[tuple[dict[str, Any], str]]
    """Settings that must be refused, each with the field name the error must name."""
    inbound_requests: list[RawRequest] = field(default_factory=list)
    """Genuine deliveries (signed where the channel signs); each parses to at least one message. A connector that
    receives on routes of its own (not a ParsingConnector) has none: its routes are tested through HTTP."""
    forged_requests: list[RawRequest] = field(default_factory=list)
    malformed_requests: list[RawRequest] = field(default_factory=list)
    """Pass verify, but must be refused by parse with MalformedPayload."""
    secret_fields: tuple[str, ...] = ()
    sample_outbound: OutboundMessage | None = None
    send_url: str | None = None
    """The URL (regex) the send calls; None when sending makes no HTTP call."""
    send_success: Callable[[], httpx.Response] | None = None
    prepare_mocks: Callable[[respx.Router], None] | None = None
    """Routes the send needs besides `send_url` (e.g. an access token endpoint)."""
    store_seed: dict[str, str] = field(default_factory=dict)
    inbox: InboxRef = TEST_INBOX
    credentials_url: str | None = None
    """The URL (regex) check_credentials asks to prove the settings; None when the channel offers no check.
    `prepare_mocks` answers it as the channel answers good credentials."""
    refused_credentials: list[tuple[Callable[[], httpx.Response], str | None]] = field(default_factory=list)
    """The channel's answers at `credentials_url` to credentials it refuses, each with the setting the refusal names."""
    live_source: Callable[[], AbstractAsyncContextManager[LiveSource]] | None = None
    """Starts a real server for a connector that does not speak HTTP; every PollingConnector needs one."""
    refused_live_settings: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    """Changes to the live source's settings that its server refuses, each with the setting the refusal names."""

    def build(self) -> Connector:
        settings = self.connector.settings_model.model_validate(self.valid_settings)
        return self.connector(settings, self.inbox)


def load_profile(connector: type[Connector]) -> ContractProfile:
    """Import `<connector's package>.contract` and return its profile."""
    package = connector.__module__.rsplit(".", 1)[0]
    try:
        module = importlib.import_module(f"{package}.contract")
    except ModuleNotFoundError as error:
        raise AssertionError(f"connector {connector.kind!r} ships no {package}.contract module") from error
    return module.profile()


def raw_request(
    body: bytes | str = b"",
    *,
    method: str = "POST",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    url: str = "https://hub.example.test/webhooks/test/inbox-contract",
    sub_path: str = "",
    received_at: datetime | None = None,
) -> RawRequest:
    return RawRequest(
        method=method,
        url=url,
        sub_path=sub_path,
        query=query or {},
        headers={key.lower(): value for key, value in (headers or {}).items()},
        body=body.encode() if isinstance(body, str) else body,
        received_at=received_at or datetime.now(UTC),
    )


class MemorySharedStore:
    """A SharedStore for one process: enough for connector tests."""

    def __init__(self, seed: dict[str, str] | None = None) -> None:
        self.values: dict[str, str] = dict(seed or {})
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str, ttl: timedelta) -> None:
        self.values[key] = value

    @asynccontextmanager
    async def lock(self, key: str, ttl: timedelta):
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            yield


class PushRecorder:
    """`ConnectorContext.push` that keeps what a connector pushed, per customer, for a test to read."""

    def __init__(self) -> None:
        self.pushed: list[tuple[IdentityRef, dict[str, Any]]] = []

    async def __call__(self, customer: IdentityRef, event: dict[str, Any]) -> None:
        self.pushed.append((customer, event))


async def no_server_here(host: str, port: int) -> socket.socket:
    """`ConnectorContext.connect` where nothing listens: every connection is refused, as by a server that is down."""
    raise ConnectionRefusedError(f"nothing listens on {host}:{port} in the contract kit")


def make_context(
    http: httpx.AsyncClient,
    store: MemorySharedStore | None = None,
    now: Callable[[], datetime] | None = None,
    connect: Connect | None = no_server_here,
    push: Push | None = None,
) -> ConnectorContext:
    """A context whose attachments are kept in memory; `now` fixes the clock (default: the wall clock), `connect`
    opens the connections of channels that do not speak HTTP (default: refused, as if the server were down), `push`
    reaches the customers of a channel the hub serves itself (default: kept in `pushed`, see PushRecorder)."""
    saved: dict[str, bytes] = {}

    async def save_attachment(content: bytes, filename: str, mime_type: str) -> str:
        url = f"https://hub.example.test/attachments/{len(saved)}/{filename}"
        saved[url] = content
        return url

    async def read_attachment(url: str, max_bytes: int) -> AttachmentContent:
        if url in saved:
            if len(saved[url]) > max_bytes:
                raise PermanentSendError(
                    f"The attachment is larger than {max_bytes} bytes, the most allowed here"
                )
            return AttachmentContent(saved[url], None)
        return await download(http, url, max_bytes)

    return ConnectorContext(
        http=http,
        store=store or MemorySharedStore(),
        save_attachment=save_attachment,
        read_attachment=read_attachment,
        now=now or (lambda: datetime.now(UTC)),
        connect=connect,
        push=push or PushRecorder(),
    )


class ConnectorContract:
    """Subclass in a test module and define a `profile` fixture returning a ContractProfile."""

    def test_kind_and_settings_model_declared(self, profile: ContractProfile) -> None:
        connector = profile.connector
        assert connector.kind and connector.kind.isidentifier(), "kind must be a short identifier"
        assert connector.display_name
        assert connector.settings_model.model_json_schema()["type"] == "object"

    def test_valid_settings_accepted(self, profile: ContractProfile) -> None:
        profile.connector.settings_model.model_validate(profile.valid_settings)

    def test_bad_settings_refused_naming_the_field(self, profile: ContractProfile) -> None:
        assert profile.invalid_settings, "profile must list settings that are refused"
        for settings, field_name in profile.invalid_settings:
            with pytest.raises(ValidationError) as refused:
                profile.connector.settings_model.model_validate(settings)
            named = {str(part) for error in refused.value.errors() for part in error["loc"]}
            assert field_name in named, f"error for {settings} names {named}, not {field_name!r}"

    def test_secret_fields_are_secret(self, profile: ContractProfile) -> None:
        settings = profile.connector.settings_model.model_validate(profile.valid_settings)
        for name in profile.secret_fields:
            value = getattr(settings, name)
            assert isinstance(value, SecretStr), f"{name} must be a SecretStr"
            assert value.get_secret_value() not in repr(settings)

    def test_fixtures_exist(self, profile: ContractProfile) -> None:
        if issubclass(profile.connector, ParsingConnector):
            assert profile.inbound_requests, "profile must have at least one genuine inbound request"
        else:
            assert not profile.inbound_requests, "only a ParsingConnector parses requests"

    def test_a_reply_subject_is_given_once_and_never_stacks(self, profile: ContractProfile) -> None:
        """The composer shows `reply_subject`'s line as the one `send` uses: a channel that threads by reply gives
        every reply one, and answering a reply's own line gives it back unchanged; other channels give none."""
        connector = profile.build()
        if not connector.capabilities.threads_by_reply:
            assert connector.reply_subject("Where is my order?") is None
            return
        for thread_subject in (
            None,
            "",
            "Where is my order?",
            "Re: 订单 12 还没到",
            "回复：RE: Fwd: invoice",
        ):
            line = connector.reply_subject(thread_subject)
            assert line, f"no subject line for a thread whose subject is {thread_subject!r}"
            if thread_subject and thread_subject.strip():
                assert connector.reply_subject(line) == line, f"{line!r} changes when answered again"

    def test_genuine_requests_verify_and_parse(self, profile: ContractProfile) -> None:
        connector = profile.build()
        known_kinds = frozenset(IdentityKind) | profile.connector.identity_kinds
        for raw in profile.inbound_requests:
            if _is_handshake(connector, raw):
                continue
            assert isinstance(connector, ParsingConnector)
            messages = connector.parse(raw)
            assert messages, f"{raw.body[:80]!r} parsed to no message"
            for message in messages:
                assert message.channel_message_id
                assert message.sent_at.tzinfo is not None, "sent_at must be timezone-aware"
                assert message.sender.value
                for identity in (message.sender, *message.linked_identities):
                    assert identity.kind in known_kinds, (
                        f"identity kind {identity.kind!r} is neither shared nor in the connector's identity_kinds"
                    )
            if isinstance(connector, WebhookConnector):
                assert connector.ack(raw, messages).status_code < 300

    def test_parse_is_deterministic(self, profile: ContractProfile) -> None:
        connector = profile.build()
        another = profile.build()
        for raw in profile.inbound_requests:
            if not _is_handshake(connector, raw):
                assert isinstance(connector, ParsingConnector) and isinstance(another, ParsingConnector)
                assert connector.parse(raw) == connector.parse(raw)
                assert another.parse(raw) == connector.parse(raw)

    def test_forged_requests_refused(self, profile: ContractProfile) -> None:
        """The public webhook route serves only connectors whose verify refuses forgeries, so a webhook
        connector's profile must show some; any other connector has no verify to show them to."""
        connector = profile.build()
        if not isinstance(connector, WebhookConnector):
            assert not profile.forged_requests, "only a WebhookConnector verifies requests"
            return
        assert profile.forged_requests, (
            "a WebhookConnector's profile must list forged requests verify refuses"
        )
        for raw in profile.forged_requests:
            with pytest.raises(SignatureInvalid):
                connector.verify(raw)

    def test_malformed_requests_refused(self, profile: ContractProfile) -> None:
        connector = profile.build()
        for raw in profile.malformed_requests:
            assert isinstance(connector, ParsingConnector), "only a ParsingConnector parses requests"
            if isinstance(connector, WebhookConnector):
                connector.verify(raw)
            with pytest.raises(MalformedPayload):
                connector.parse(raw)

    @pytest.mark.parametrize(
        "garbage",
        [b"", b"\x00\xff\xfe", b"{", b"<xml>", b"[]", b"null", "中文".encode("gbk"), b"A" * 70000],
    )
    def test_parse_never_crashes_on_garbage(self, profile: ContractProfile, garbage: bytes) -> None:
        """Whatever verify says, parse itself only ever refuses with MalformedPayload."""
        connector = profile.build()
        if not isinstance(connector, ParsingConnector):
            return
        template = next(raw for raw in profile.inbound_requests if not _is_handshake(connector, raw))
        raw = dataclasses.replace(template, body=garbage)
        if isinstance(connector, WebhookConnector):
            with contextlib.suppress(SignatureInvalid):
                connector.verify(raw)
        with contextlib.suppress(MalformedPayload):
            connector.parse(raw)

    def test_replay_keys_are_stable_and_expire(self, profile: ContractProfile) -> None:
        """The hub claims a replay key for as long as it says; a key that changed between calls would claim nothing."""
        connector, another = profile.build(), profile.build()
        if not (isinstance(connector, WebhookConnector) and isinstance(another, WebhookConnector)):
            return
        for raw in profile.inbound_requests:
            connector.verify(raw)
            key = connector.replay_key(raw)
            assert key == another.replay_key(raw)
            if key is not None:
                assert key.value, "a replay key needs a value"
                assert timedelta(0) < key.accepted_for <= MAX_REPLAY_WINDOW, "the hub holds a claim this long"

    async def test_good_credentials_pass_the_check(self, profile: ContractProfile) -> None:
        if profile.live_source is not None:
            async with _live(profile) as (source, context):
                await _built(profile, source.settings).check_credentials(context)
            return
        await self._check_credentials(profile, None)

    async def test_a_live_server_refuses_wrong_settings_naming_them(self, profile: ContractProfile) -> None:
        """What the server refuses is the admin's to fix, so it must name the setting, like an HTTP channel's refusal."""
        if profile.live_source is None:
            assert not profile.refused_live_settings, "refused_live_settings need a live_source"
            return
        assert profile.refused_live_settings, "list settings the live server refuses"
        async with _live(profile) as (source, context):
            for changes, setting in profile.refused_live_settings:
                with pytest.raises(CredentialsRefused) as refused:
                    await _built(profile, {**source.settings, **changes}).check_credentials(context)
                assert refused.value.setting == setting, (
                    f"{refused.value.reason!r} names {refused.value.setting!r}"
                )
                for name in profile.secret_fields:
                    assert str(source.settings.get(name, "")) not in refused.value.reason

    async def test_refused_credentials_name_the_setting(self, profile: ContractProfile) -> None:
        assert profile.refused_credentials or profile.credentials_url is None, (
            "list the answers to wrong credentials"
        )
        settings = profile.connector.settings_model.model_validate(profile.valid_settings)
        for answer, setting in profile.refused_credentials:
            with pytest.raises(CredentialsRefused) as refused:
                await self._check_credentials(profile, answer())
            assert refused.value.setting == setting, (
                f"{refused.value.reason!r} names {refused.value.setting!r}"
            )
            assert setting is None or setting in profile.connector.settings_model.model_fields
            for name in profile.secret_fields:
                secret = getattr(settings, name)
                assert secret is None or secret.get_secret_value() not in refused.value.reason

    @pytest.mark.parametrize(
        "failure",
        [answer for answer, expected in CHANNEL_ANSWERS if expected is TransientSendError],
        ids=lambda failure: str(failure) if isinstance(failure, int) else type(failure).__name__,
    )
    async def test_an_unreachable_channel_neither_proves_nor_refuses_credentials(
        self, profile: ContractProfile, failure: int | Exception
    ) -> None:
        """Not the admin's fault: CredentialsUnchecked. Only a connector that asks nothing may pass."""
        async with respx.mock(assert_all_called=False) as router:
            route = router.route()
            if isinstance(failure, Exception):
                route.side_effect = failure
            else:
                route.return_value = httpx.Response(failure, json={"error": "x"})
            async with httpx.AsyncClient() as http:
                try:
                    await profile.build().check_credentials(make_context(http))
                except CredentialsUnchecked:
                    return
        assert not route.called, "check_credentials passed although the channel could not be reached"

    async def _check_credentials(self, profile: ContractProfile, answer: httpx.Response | None) -> None:
        async with respx.mock(assert_all_called=False) as router:
            if answer is not None:
                assert profile.credentials_url is not None, "refused_credentials need a credentials_url"
                router.route(url__regex=profile.credentials_url).return_value = answer
            if profile.prepare_mocks:
                profile.prepare_mocks(router)
            async with httpx.AsyncClient() as http:
                await profile.build().check_credentials(
                    make_context(http, MemorySharedStore(profile.store_seed))
                )

    async def test_send_succeeds(self, profile: ContractProfile) -> None:
        assert profile.sample_outbound is not None, "profile must give a sample_outbound to send"
        if profile.live_source is not None:
            async with _live(profile) as (source, context):
                result = await _built(profile, source.settings).send(profile.sample_outbound, context)
        else:
            result = await self._send(profile, profile.send_success() if profile.send_success else None)
        assert isinstance(result, SendResult)

    @pytest.mark.parametrize(
        "failure, expected",
        [
            (ConnectionRefusedError("connection refused"), TransientSendError),
            (TimeoutError("timed out"), TransientSendError),
            (DestinationRefused("mail.example.test", "loopback"), PermanentSendError),
        ],
        ids=["refused", "timeout", "destination_refused"],
    )
    async def test_connection_failures_map_to_retry_or_fail(
        self, profile: ContractProfile, failure: Exception, expected: type[Exception]
    ) -> None:
        """For a connector that opens connections itself: a server down is transient, a destination the egress
        policy refuses fails the message at once."""
        if profile.live_source is None:
            return
        assert profile.sample_outbound is not None

        async def failing(host: str, port: int) -> socket.socket:
            raise failure

        async with _live(profile) as (source, context):
            with pytest.raises(expected):
                await _built(profile, source.settings).send(
                    profile.sample_outbound, dataclasses.replace(context, connect=failing)
                )

    async def test_polling_resumes_where_it_stopped_without_loss_or_duplicate(
        self, profile: ContractProfile
    ) -> None:
        """A pull connector's cursor is all the hub keeps: a new instance given it reads exactly the rest."""
        if not issubclass(profile.connector, PollingConnector):
            return
        assert profile.live_source is not None, "a PollingConnector's profile must give a live_source to poll"
        parser = profile.build()
        assert isinstance(parser, PollingConnector)
        expected = sorted(
            message.channel_message_id for raw in profile.inbound_requests for message in parser.parse(raw)
        )
        async with _live(profile) as (source, context):
            for raw in profile.inbound_requests:
                await source.deliver(raw)
            first_connector = _built(profile, source.settings)
            assert isinstance(first_connector, PollingConnector)
            async with first_connector.poll_session(context) as session:
                first = await session.poll(None)
            read = _polled_ids(first)
            assert first.more, (
                "the live source's settings must make one poll read less than all (a small batch)"
            )
            resumed = _built(profile, source.settings)
            assert isinstance(resumed, PollingConnector)
            cursor = first.cursor
            async with resumed.poll_session(context) as session:
                while True:
                    result = await session.poll(cursor)
                    read += _polled_ids(result)
                    cursor = result.cursor
                    if not result.more:
                        break
                assert (await session.poll(cursor)).items == (), (
                    "polling from the last cursor finds nothing new"
                )
        assert sorted(read) == expected, "every delivery read exactly once"

    async def test_channel_errors_map_to_retry_or_fail(self, profile: ContractProfile) -> None:
        """429, 5xx and transport errors are transient, other 4xx permanent. A connector without a send URL
        shows it needs no HTTP: it sends while every request is refused."""
        if profile.send_url is None:
            if profile.live_source is None:
                assert isinstance(await self._send(profile, None), SendResult)
            return
        for answer, expected in CHANNEL_ANSWERS:
            with pytest.raises(expected):
                await self._send(
                    profile,
                    httpx.Response(answer, json={"error": "x"}) if isinstance(answer, int) else answer,
                )

    async def _send(self, profile: ContractProfile, answer: httpx.Response | Exception | None) -> SendResult:
        assert profile.sample_outbound is not None
        async with respx.mock(assert_all_called=False) as router:
            if profile.prepare_mocks:
                profile.prepare_mocks(router)
            if profile.send_url is not None:
                route = router.route(url__regex=profile.send_url)
                if isinstance(answer, Exception):
                    route.side_effect = answer
                else:
                    route.return_value = answer
            async with httpx.AsyncClient() as http:
                context = make_context(http, MemorySharedStore(profile.store_seed))
                return await profile.build().send(profile.sample_outbound, context)


@asynccontextmanager
async def _live(profile: ContractProfile) -> AsyncIterator[tuple[LiveSource, ConnectorContext]]:
    """The profile's live server, and a context whose connections reach it."""
    assert profile.live_source is not None
    async with profile.live_source() as source, httpx.AsyncClient() as http:
        yield source, make_context(http, connect=source.connect)


def _built(profile: ContractProfile, settings: dict[str, Any]) -> Connector:
    return profile.connector(profile.connector.settings_model.model_validate(settings), profile.inbox)


def _polled_ids(result: PollResult) -> list[str]:
    return [message.channel_message_id for item in result.items for message in item.messages]


def _is_handshake(connector: Connector, raw: RawRequest) -> bool:
    """A webhook connector's set-up request, which carries no messages; every genuine delivery verifies."""
    if not isinstance(connector, WebhookConnector):
        return False
    connector.verify(raw)
    return connector.handshake(raw) is not None
