"""Every registered connector passes the contract kit."""

import dataclasses

import pytest

from connectors import WebhookConnector, default_registry
from connectors.testing import ConnectorContract, ContractProfile, load_profile

REGISTRY = default_registry()


class TestEveryRegisteredConnector(ConnectorContract):
    @pytest.fixture(params=REGISTRY.kinds())
    def profile(self, request: pytest.FixtureRequest) -> ContractProfile:
        return load_profile(REGISTRY.get(request.param))


@pytest.mark.parametrize(
    "kind", [kind for kind in REGISTRY.kinds() if issubclass(REGISTRY.get(kind), WebhookConnector)]
)
def test_the_kit_fails_a_webhook_connector_that_shows_no_forgery_refused(kind: str) -> None:
    """A connector mounted on the public webhook route cannot pass the kit without proving that verify refuses."""
    unproven = dataclasses.replace(load_profile(REGISTRY.get(kind)), forged_requests=[])
    with pytest.raises(AssertionError, match="forged requests"):
        ConnectorContract().test_forged_requests_refused(unproven)


def test_a_webhook_connector_cannot_leave_verify_out() -> None:
    class Unverified(WebhookConnector):
        kind = "unverified"
        display_name = "Unverified"

        def parse(self, raw):
            return []

        async def send(self, outbound, context):
            raise NotImplementedError

    with pytest.raises(TypeError, match="verify"):
        Unverified(None, None)  # type: ignore[arg-type]
