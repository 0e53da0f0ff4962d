"""What an inbox shows and asks for: public facts, console settings, demo credentials, reply-quota parts."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from connectors.testing import TEST_INBOX
from connectors.wechat import WeChatMiniProgramConnector, WeChatOfficialAccountConnector
from connectors.wechat.common.connector import WeChatConnector
from connectors.wechat.common.testing import FIXTURE_ENCODING_AES_KEY
from normalizer import Attachment
from tests.connectors.wechat.support import (
    MP_APP_ID,
    OA_APP_ID,
    OA_OPENID,
    deliveries,
    fixture,
    mini_program,
    official_account,
    openid_of,
    outbound,
)

SECRETS = ("FixtureToken2024", FIXTURE_ENCODING_AES_KEY, "fixture-app-secret-0123456789abcdef")


def test_the_official_account_describes_only_public_facts() -> None:
    assert official_account().describe() == {
        "callback_url": "https://hub.example.test/webhooks/wechat_oa/inbox-contract",
        "app_id": OA_APP_ID,
        "mode": "safe",
    }


def test_the_mini_program_also_names_its_data_format() -> None:
    assert mini_program(data_format="xml").describe() == {
        "callback_url": "https://hub.example.test/webhooks/wechat_mp/inbox-contract",
        "app_id": MP_APP_ID,
        "mode": "safe",
        "data_format": "xml",
    }


@pytest.mark.parametrize("connector", [official_account(), mini_program()], ids=["oa", "mp"])
def test_describe_never_echoes_a_secret(connector: WeChatConnector) -> None:
    """The REST API answers describe(); the token and key would let anyone forge deliveries."""
    described = json.dumps(connector.describe(), ensure_ascii=False)
    assert not [secret for secret in SECRETS if secret in described]


def test_console_settings_are_what_the_admin_types_into_the_wechat_console() -> None:
    assert official_account().console_settings() == {
        "token": "FixtureToken2024",
        "encoding_aes_key": FIXTURE_ENCODING_AES_KEY,
    }
    assert official_account(mode="plain", encoding_aes_key=None).console_settings() == {
        "token": "FixtureToken2024"
    }


@pytest.mark.parametrize("connector_class", [WeChatOfficialAccountConnector, WeChatMiniProgramConnector])
def test_demo_settings_are_valid_safe_mode_credentials(connector_class: type[WeChatConnector]) -> None:
    settings = connector_class.settings_model.model_validate(connector_class.demo_settings())
    assert settings.mode == "safe" and settings.encoding_aes_key is not None
    if connector_class is WeChatMiniProgramConnector:
        assert settings.data_format == "json"


@pytest.mark.parametrize("connector_class", [WeChatOfficialAccountConnector, WeChatMiniProgramConnector])
def test_each_demo_hub_gets_its_own_callback_secrets(connector_class: type[WeChatConnector]) -> None:
    first, second = connector_class.demo_settings(), connector_class.demo_settings()
    assert first["token"] != second["token"] and first["encoding_aes_key"] != second["encoding_aes_key"]


@pytest.mark.parametrize(
    ("connector_class", "push"),
    [(WeChatOfficialAccountConnector, "oa_text.xml"), (WeChatMiniProgramConnector, "mp_text.json")],
)
def test_a_simulator_with_the_printed_console_settings_can_deliver_to_the_demo_inbox(
    connector_class: type[WeChatConnector], push: str
) -> None:
    """`omnihub demo --json` prints describe() and console_settings(): together they are enough to sign and encrypt."""
    demo = connector_class(
        connector_class.settings_model.model_validate(connector_class.demo_settings()), TEST_INBOX
    )
    printed = {**demo.describe(), **demo.console_settings()}
    simulator = connector_class.settings_model.model_validate(
        {
            "app_id": printed["app_id"],
            "app_secret": "unknown-to-the-simulator",
            "token": printed["token"],
            "mode": printed["mode"],
            "encoding_aes_key": printed["encoding_aes_key"],
        }
    )
    raw = deliveries(demo, settings=simulator).post(fixture(push))
    demo.verify(raw)
    [message] = demo.parse(raw)
    assert message.sender.scope == printed["app_id"]


@pytest.mark.parametrize(
    ("mode", "key", "accepted"),
    [
        ("plain", None, True),
        ("plain", FIXTURE_ENCODING_AES_KEY, True),
        ("compatible", None, False),
        ("safe", None, False),
    ],
)
def test_the_encoding_aes_key_is_required_outside_plain_mode(
    mode: str, key: str | None, accepted: bool
) -> None:
    if accepted:
        official_account(mode=mode, encoding_aes_key=key)
    else:
        with pytest.raises(ValidationError, match=f"required in {mode} mode"):
            official_account(mode=mode, encoding_aes_key=key)


def test_the_api_base_url_is_stored_without_a_trailing_slash() -> None:
    assert (
        official_account(api_base_url="https://api2.weixin.qq.com/").settings.api_base_url
        == "https://api2.weixin.qq.com"
    )


CUSTOMER = openid_of(OA_APP_ID, OA_OPENID)
IMAGE = Attachment("image", media_id="MEDIA_1")


@pytest.mark.parametrize(
    ("text", "attachments", "parts"),
    [
        ("您好", (), 1),
        ("订" * 682 + "ab", (), 1),
        ("订" * 683, (), 2),
        ("订" * 2000, (), 3),
        ("您好", (IMAGE, IMAGE), 3),
        ("", (IMAGE,), 1),
        (" ", (), 0),
    ],
)
def test_parts_needed_counts_2048_byte_pieces_and_attachments(
    text: str, attachments: tuple[Attachment, ...], parts: int
) -> None:
    """The hub reserves this many of the customer's five replies before sending."""
    for connector in (official_account(), mini_program()):
        assert connector.parts_needed(outbound(CUSTOMER, text, attachments)) == parts
