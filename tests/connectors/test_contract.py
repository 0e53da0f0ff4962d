"""Every registered connector passes the contract kit."""

import pytest

from connectors import default_registry
from connectors.testing import ConnectorContract, ContractProfile, load_profile

REGISTRY = default_registry()


class TestEveryRegisteredConnector(ConnectorContract):
    @pytest.fixture(params=REGISTRY.kinds())
    def profile(self, request: pytest.FixtureRequest) -> ContractProfile:
        return load_profile(REGISTRY.get(request.param))
