"""The dependency rules of the layers (pyproject.toml, [tool.importlinter]) hold for the whole tree."""

import itertools
import re
import tokenize
from pathlib import Path

from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_import_contracts_hold() -> None:
    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0


CHANNEL_NAMES = re.compile(r"webchat|web_chat|wechat", re.IGNORECASE)
CHANNEL_FREE_PACKAGES = ["hub", "admin_ui", "normalizer", "routing"]


STATEMENT_STARTS = {tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE, tokenize.NL, tokenize.ENCODING}


def _code_tokens(path: Path) -> list[tokenize.TokenInfo]:
    """Names and strings of the code: comments and docstrings (a string standing as a statement) may cite a
    channel as an example."""
    with path.open("rb") as source:
        tokens = list(tokenize.tokenize(source.readline))
    return [
        token
        for previous, token in itertools.pairwise(tokens)
        if token.type == tokenize.NAME
        or (token.type == tokenize.STRING and previous.type not in STATEMENT_STARTS)
    ]


def test_channel_kinds_appear_only_in_their_connector_packages() -> None:
    """The hub, the pages and the pure core ask connectors; none names a channel in its code."""
    root = PYPROJECT.parent
    named = [
        f"{path.relative_to(root)}:{token.start[0]}: {token.string}"
        for package in CHANNEL_FREE_PACKAGES
        for path in sorted((root / package).rglob("*.py"))
        if "migrations" not in path.parts
        for token in _code_tokens(path)
        if CHANNEL_NAMES.search(token.string)
    ]
    assert named == []
