"""Alerts: rule loading and evaluation, routing, grouping, silences, inhibition and channels.

Not built yet (issue "Alerts"); the package exists so the layout matches DESIGN.md.
"""

from __future__ import annotations

__all__: list[str] = []
