"""Notification channels, one module each (``email.py``, ``slack.py``, ``webhook.py``...)."""

from __future__ import annotations

__all__: list[str] = []
