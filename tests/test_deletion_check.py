"""The deletion check (scripts/deletion_check.py): each feature it lists, deleted, makes its tests fail."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "deletion_check.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deletion_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


deletion_check = _script()
Deletion, SpecError, Templates, apply = (
    deletion_check.Deletion,
    deletion_check.SpecError,
    deletion_check.Templates,
    deletion_check.apply,
)

SOURCE = '''
class Tokens:
    def check(self, row, now):
        """Refuse what is expired."""
        if row is None:
            raise LookupError("unknown")
        if row.expires_at <= now:
            raise PermissionError("expired")
        try:
            return row.send()
        except TimeoutError:
            return "later"
        except OSError:
            return "failed"
'''


def deleted(**spec: str | None) -> str:
    return apply(Deletion(name="example", module="example.py", tests=(), **spec), SOURCE)


def test_a_statement_is_replaced_by_pass() -> None:
    result = deleted(function="Tokens.check", starts_with="if row.expires_at <= now")
    assert "PermissionError" not in result and "LookupError" in result
    assert "        pass\n" in result


def test_an_except_clause_is_removed_and_the_others_kept() -> None:
    result = deleted(function="Tokens.check", starts_with="except TimeoutError")
    assert "later" not in result and "except OSError" in result


def test_an_expression_is_replaced_by_its_replacement() -> None:
    result = deleted(function="Tokens.check", starts_with="row.expires_at <= now", replacement="False")
    assert "if False:" in result


def test_a_whole_body_is_replaced() -> None:
    result = deleted(function="Tokens.check", replacement="return 'sent'")
    assert "raise" not in result and "return 'sent'" in result


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"function": "Tokens.verify"}, "has no Tokens.verify"),
        ({"function": "Tokens"}, "is not a function"),
        ({"function": "Tokens.check", "starts_with": "if row.revoked"}, "0 places"),
        ({"function": "Tokens.check", "starts_with": "return "}, "3 places"),
        ({"function": "Tokens.check", "starts_with": "row.expires_at"}, "needs a replacement"),
        (
            {"function": "Tokens.check", "starts_with": "row.send()", "replacement": "return ("},
            "invalid Python",
        ),
    ],
)
def test_a_target_not_found_exactly_once_fails_loudly(spec: dict[str, str], complaint: str) -> None:
    with pytest.raises(SpecError, match=complaint):
        deleted(**spec)


def test_a_deletion_reuses_only_templates_built_without_running_its_function(tmp_path: Path) -> None:
    source = (
        "def send(retries=default_retries()):\n    return retries\n\ndef seal(value):\n    return value\n"
    )
    templates = deletion_check.Templates(
        migrated=tmp_path / "migrated.db",
        demo=tmp_path / "demo.db",
        ran_for_migrated=frozenset({"m.py::send"}),
        ran_for_demo=frozenset({"m.py::send", "m.py::seal"}),
        libraries=(),
    )
    in_body = Deletion(name="body", module="m.py", function="seal", tests=())
    assert templates.environment(in_body, source) == {
        "DELETION_CHECK_MIGRATED_TEMPLATE": str(tmp_path / "migrated.db")
    }
    untouched = Templates(templates.migrated, templates.demo, frozenset(), frozenset(), ())
    assert set(untouched.environment(in_body, source)) == {
        "DELETION_CHECK_MIGRATED_TEMPLATE",
        "DELETION_CHECK_DEMO_TEMPLATE",
    }
    in_default = Deletion(
        name="default",
        module="m.py",
        function="send",
        tests=(),
        starts_with="default_retries()",
        replacement="1",
    )
    assert untouched.environment(in_default, source) == {}
    assert templates.environment(Deletion(name="ran", module="m.py", function="send", tests=()), source) == {}


@pytest.mark.parametrize("deletion", deletion_check.DELETIONS, ids=lambda deletion: deletion.name)
def test_every_declared_deletion_finds_its_target(deletion) -> None:
    """A refactoring that moves a feature's code fails here at once: re-point the spec to where the code went."""
    apply(deletion, (ROOT / deletion.module).read_text())


@pytest.mark.deletions
def test_deleting_any_declared_feature_makes_its_tests_fail() -> None:
    """The named tests pass on the unchanged tree because the suite runs them too; no baseline run here."""
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "--no-baseline"], cwd=ROOT, capture_output=True, text=True, timeout=2400
    )
    assert finished.returncode == 0, finished.stdout[-8000:] + finished.stderr[-4000:]
