"""The agent inbox and admin pages, and the demo shop that embeds a widget."""

from admin_ui import admin, pages

__all__ = ["routes"]


def routes() -> list:
    return [*pages.routes(), *admin.admin_routes()]
