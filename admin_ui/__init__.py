"""The agent inbox and admin pages, and the demo shop that embeds a widget."""

from admin_ui.pages import routes

__all__ = ["routes"]
