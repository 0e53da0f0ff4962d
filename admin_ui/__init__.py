"""The agent inbox and admin pages, and the web chat widget's assets."""

from admin_ui.pages import routes

__all__ = ["routes"]
