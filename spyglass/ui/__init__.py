"""UI: Jinja2 pages and static assets; routes call ``spyglass.query`` functions in process."""

from __future__ import annotations

from ._app import UiContext, create_ui_app

__all__ = ["UiContext", "create_ui_app"]
