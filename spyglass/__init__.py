"""Spyglass: self-hosted observability on one machine (OTLP in, DuckDB inside, UI and alerts out)."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
