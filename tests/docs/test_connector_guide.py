"""docs/connectors.md quotes the example connector: every code block must still read as it does in the file it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.conftest import REPOSITORY

GUIDE = REPOSITORY / "docs" / "connectors.md"
QUOTED_LANGUAGES = ("python", "toml")
"""Code in these languages is quoted from a file; shell sessions and wire formats are not."""
EXCERPT = re.compile(
    r"^From \[`[^`]+`\]\((?P<path>[^)\s]+)\):\n\n```(?P<language>\w+)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
FENCE = re.compile(r"^```(?P<language>\w+)$", re.MULTILINE)


@dataclass(frozen=True)
class Excerpt:
    source: Path
    code: str
    line: int


def excerpts() -> list[Excerpt]:
    guide = GUIDE.read_text()
    return [
        Excerpt(
            (GUIDE.parent / match["path"]).resolve(), match["code"], guide.count("\n", 0, match.start()) + 1
        )
        for match in EXCERPT.finditer(guide)
    ]


def test_every_quoted_block_names_its_source() -> None:
    quoted_blocks = [
        match for match in FENCE.finditer(GUIDE.read_text()) if match["language"] in QUOTED_LANGUAGES
    ]
    assert len(excerpts()) == len(quoted_blocks), (
        f"every ```{'/'.join(QUOTED_LANGUAGES)} block must follow a line 'From [`name`](relative/path):'"
    )


def test_the_guide_walks_through_every_file_of_the_example() -> None:
    quoted = {excerpt.source for excerpt in excerpts()}
    example = {
        path.resolve()
        for path in (REPOSITORY / "docs" / "example_connector").rglob("*")
        if path.suffix in (".py", ".toml") and path.name != "__init__.py"
    }
    assert example <= quoted, f"not quoted: {sorted(str(path) for path in example - quoted)}"


@pytest.mark.parametrize("excerpt", excerpts(), ids=lambda excerpt: f"connectors.md:{excerpt.line}")
def test_excerpt_is_verbatim_from_its_source(excerpt: Excerpt) -> None:
    assert excerpt.source.is_file(), f"{excerpt.source} does not exist"
    assert excerpt.code in excerpt.source.read_text(), f"the excerpt is no longer in {excerpt.source.name}"
