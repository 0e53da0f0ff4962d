"""The example as a third-party distribution: the hub finds it by its entry point, and it keeps to the layering."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from acme_sms import AcmeSmsConnector
from importlinter.cli import lint_imports

from connectors.registry import ENTRY_POINT_GROUP, ConnectorRegistry, DuplicateConnectorKind
from tests.docs.conftest import EXAMPLE_DISTRIBUTION

PYPROJECT = EXAMPLE_DISTRIBUTION / "pyproject.toml"


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `pip install` leaves on sys.path: the package, and a dist-info with the pyproject's entry points."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    dist_info = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    declared = project["entry-points"][ENTRY_POINT_GROUP]
    (dist_info / "entry_points.txt").write_text(
        "\n".join([f"[{ENTRY_POINT_GROUP}]", *(f"{name} = {target}" for name, target in declared.items())])
        + "\n"
    )
    monkeypatch.syspath_prepend(str(EXAMPLE_DISTRIBUTION))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_the_entry_point_registers_the_example_kind(installed_example: None) -> None:
    registry = ConnectorRegistry()

    registry.load_entry_points()

    assert registry.get("acme_sms") is AcmeSmsConnector


def test_another_connector_claiming_the_kind_is_refused(installed_example: None) -> None:
    registry = ConnectorRegistry()
    registry.register(type("LookalikeConnector", (AcmeSmsConnector,), {}))

    with pytest.raises(DuplicateConnectorKind, match="acme_sms"):
        registry.load_entry_points()


def test_the_example_imports_nothing_of_the_hub() -> None:
    """The example's own import-linter contract, as its CI would run it."""
    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0
