"""Knowledge-base articles as CSV and Markdown files, for editing in a spreadsheet or a text editor.

CSV: a header row `id,title,questions,answer,locale,tags,enabled`; `questions` and `tags` hold one item
per line inside their cell; `enabled` is `true` or `false` (empty means true); `id` is empty for a new article.

Markdown: each article starts with a level-1 heading (its title), then `key: value` lines (`id`, `locale`,
`tags` comma-separated, `enabled`), a `## Questions` list (`- ` items) and a `## Answer` section running to
the next article. An answer line that starts with `#` is written with a backslash before it (`\\#`).

Parsing answers plain dicts with the fields of `ArticleBody`; the caller validates them like any request.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from hub.models import KbArticle

__all__ = ["CSV_COLUMNS", "FormatError", "parse_csv", "parse_markdown", "to_csv", "to_markdown"]

CSV_COLUMNS = ("id", "title", "questions", "answer", "locale", "tags", "enabled")
TRUE_WORDS = frozenset({"", "true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


class FormatError(ValueError):
    """The file is not in the format: `where` names the row or line."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def to_csv(articles: Sequence[KbArticle]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for article in articles:
        writer.writerow(
            [
                article.id,
                article.title,
                "\n".join(article.questions),
                article.answer,
                article.locale,
                "\n".join(article.tags),
                "true" if article.enabled else "false",
            ]
        )
    return out.getvalue()


def parse_csv(text: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None:
        return []
    names = [name.strip().lower() for name in header]
    missing = {"title", "questions", "answer"} - set(names)
    unknown = set(names) - set(CSV_COLUMNS)
    if missing or unknown:
        problem = (
            f"missing {', '.join(sorted(missing))}" if missing else f"unknown {', '.join(sorted(unknown))}"
        )
        raise FormatError("header", f"columns must be {', '.join(CSV_COLUMNS)} ({problem})")
    articles = []
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            raise FormatError(f"row {number}", f"has {len(row)} cells, the header {len(names)}")
        cells = dict(zip(names, row, strict=True))
        articles.append(
            _article(
                f"row {number}",
                cells.get("id", ""),
                cells["title"],
                _lines(cells["questions"]),
                cells["answer"],
                cells.get("locale", ""),
                _lines(cells.get("tags", "")),
                cells.get("enabled", ""),
            )
        )
    return articles


def to_markdown(articles: Sequence[KbArticle]) -> str:
    blocks = []
    for article in articles:
        answer = "\n".join(
            "\\" + line if line.startswith("#") else line for line in article.answer.split("\n")
        )
        blocks.append(
            f"# {article.title}\n\n"
            f"id: {article.id}\n"
            f"locale: {article.locale}\n"
            f"tags: {', '.join(article.tags)}\n"
            f"enabled: {'true' if article.enabled else 'false'}\n\n"
            "## Questions\n\n" + "".join(f"- {question}\n" for question in article.questions) + "\n"
            f"## Answer\n\n{answer}\n"
        )
    return "\n".join(blocks)


def parse_markdown(text: str) -> list[dict[str, Any]]:
    articles = []
    for start, block in _article_blocks(text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")):
        where = f"line {start}"
        title = block[0][2:].strip()
        fields: dict[str, str] = {}
        questions: list[str] = []
        answer: list[str] = []
        section = "fields"
        for line in block[1:]:
            heading = line.strip().lower()
            if section != "answer" and heading in ("## questions", "## answer"):
                section = heading[3:]
            elif section == "answer":
                answer.append(line[1:] if line.startswith("\\#") else line)
            elif section == "questions" and line.strip().startswith(("- ", "* ")):
                questions.append(line.strip()[2:].strip())
            elif section == "fields" and ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            elif line.strip():
                raise FormatError(
                    where, f"unexpected line {line.strip()[:40]!r} in the {section} of {title!r}"
                )
        unknown = set(fields) - {"id", "locale", "tags", "enabled"}
        if unknown:
            raise FormatError(where, f"unknown field {', '.join(sorted(unknown))} in {title!r}")
        articles.append(
            _article(
                where,
                fields.get("id", ""),
                title,
                questions,
                "\n".join(answer).strip(),
                fields.get("locale", ""),
                [tag.strip() for tag in fields.get("tags", "").split(",") if tag.strip()],
                fields.get("enabled", ""),
            )
        )
    return articles


def _article_blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Each article's lines with its heading's line number; text before the first heading must be blank."""
    blocks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith("# "):
            blocks.append((number, [line]))
        elif blocks:
            blocks[-1][1].append(line)
        elif line.strip():
            raise FormatError(f"line {number}", "each article starts with a '# Title' line")
    return blocks


def _lines(cell: str) -> list[str]:
    return [line.strip() for line in cell.replace("\r\n", "\n").split("\n") if line.strip()]


def _article(
    where: str,
    article_id: str,
    title: str,
    questions: list[str],
    answer: str,
    locale: str,
    tags: list[str],
    enabled: str,
) -> dict[str, Any]:
    flag = enabled.strip().lower()
    if flag not in TRUE_WORDS | FALSE_WORDS:
        raise FormatError(where, f"enabled must be true or false, not {enabled[:20]!r}")
    article: dict[str, Any] = {
        "title": title.strip(),
        "questions": questions,
        "answer": answer,
        "locale": locale.strip(),
        "tags": tags,
        "enabled": flag in TRUE_WORDS,
    }
    if article_id.strip():
        article["id"] = article_id.strip()
    return article
