"""Routes of the agent inbox and the widget's script."""

from __future__ import annotations

from pathlib import Path

from litestar import get
from litestar.response import File

__all__ = ["routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


@get("/widget.js", include_in_schema=False)
async def widget_js() -> File:
    """The embeddable chat widget: one <script> tag, no dependencies, no build step."""
    return File(STATIC_DIR / "widget.js", content_disposition_type="inline", media_type="application/javascript",
                headers={"Cache-Control": "public, max-age=300"})


def routes() -> list:
    return [widget_js]
