"""Identity kinds: shared ones in the unified model, a channel's own declared by its connector, known to the registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors import UndeclaredIdentityKind, default_registry
from normalizer import IdentityKind, IdentityRef, InboundMessage


def _from(*identities: IdentityRef) -> InboundMessage:
    return InboundMessage(
        channel_message_id="m-1",
        sender=identities[0],
        sent_at=datetime(2026, 11, 26, tzinfo=UTC),
        text="hi",
        linked_identities=identities[1:],
    )


def test_the_registry_knows_the_shared_kinds_and_every_connector_declared_one():
    kinds = default_registry().identity_kinds()
    assert set(IdentityKind) <= kinds
    assert {"webchat_visitor", "wechat_openid", "wechat_unionid"} <= kinds


def test_the_unified_model_names_no_channel():
    assert not any("webchat" in kind or "wechat" in kind for kind in IdentityKind)


def test_messages_naming_only_known_kinds_pass():
    default_registry().check_identity_kinds(
        [
            _from(
                IdentityRef("wechat_openid", "o-1", "wx-app"),
                IdentityRef("wechat_unionid", "u-1", verified=True),
            )
        ]
    )


@pytest.mark.parametrize("position", ["sender", "linked"])
def test_an_identity_kind_no_connector_declares_is_refused(position):
    stranger = IdentityRef("fax_number", "+86 10 1234 5678")
    email = IdentityRef(IdentityKind.EMAIL, "li.wei@example.com")
    message = _from(stranger) if position == "sender" else _from(email, stranger)
    with pytest.raises(UndeclaredIdentityKind, match="fax_number"):
        default_registry().check_identity_kinds([message])
