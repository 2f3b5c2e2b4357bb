"""What the trace page embeds for its JavaScript: a JSON-friendly outline of a trace.

JavaScript numbers are doubles, so nothing that needs more than 53 bits travels as a number:
absolute timestamps are strings, and span times are offsets in nanoseconds from the trace's first
start (exact for traces up to 104 days long). Attributes are not embedded: the page fetches a
span's typed details from ``/api/v1/traces/{id}/spans/{span_id}`` when it is selected, so a
10,000-span trace stays a small page.
"""

from __future__ import annotations

import hashlib
from typing import Any

from spyglass.query import TraceOutline
from spyglass.types import SPAN_KINDS, STATUS_CODES, TraceSummary

__all__ = [
    "format_duration",
    "service_color",
    "service_colors",
    "outline_json",
    "summary_json",
]


# Distinct colours (Tableau's palette without its red, which marks errors).
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
    "#9c755f", "#ff9da7", "#2f4b7c", "#a0cbe8", "#8cd17d", "#bab0ac",
)  # fmt: skip


def _slot(name: str) -> int:
    return int.from_bytes(hashlib.blake2s(name.encode(), digest_size=2).digest(), "big") % len(PALETTE)


def service_color(name: str) -> str:
    """A stable colour per service name, the same on every page."""
    return PALETTE[_slot(name)]


def service_colors(names: list[str]) -> dict[str, str]:
    """Colours for the services of one trace: each its stable colour unless another service of the
    trace already has it, then the next free one, so a waterfall never shows two services alike
    (up to the palette's size)."""
    taken: set[int] = set()
    out: dict[str, str] = {}
    for name in sorted(names):
        slot = _slot(name)
        for step in range(len(PALETTE)):
            if (slot + step) % len(PALETTE) not in taken:
                slot = (slot + step) % len(PALETTE)
                break
        taken.add(slot)
        out[name] = PALETTE[slot]
    return out


def format_duration(ns: int | None) -> str:
    """``1234567`` -> ``1.23 ms``: three significant digits in the largest unit that fits."""
    if ns is None:
        return "—"
    for unit, size in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if abs(ns) >= size:
            value = ns / size
            text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
            return f"{text} {unit}"
    return f"{ns} ns"


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    return {
        "trace_id": summary.trace_id,
        "root_service": summary.root_service,
        "root_name": summary.root_name,
        "start_ns": str(summary.start_time_ns),
        "duration_ns": summary.duration_ns,
        "span_count": summary.span_count,
        "error_count": summary.error_count,
        "services": [{"service": s.service, "spans": s.spans, "errors": s.errors} for s in summary.services],
    }


def outline_json(outline: TraceOutline) -> dict[str, Any]:
    """The trace page's data: summary, service colours and the waterfall columns of every span.

    Column by column (``spans.id[i]``, ``spans.start[i]``, ...) and without attributes, so a
    10,000-span trace embeds about 1 MB instead of 23 MB; the page fetches a span's full details
    from ``/api/v1/traces/{trace_id}/spans/{span_id}`` when it is selected. ``service`` indexes
    ``services``, ``kind`` and ``status`` index ``kinds`` and ``statuses``; ``events`` holds
    ``[offset, name]`` pairs per span and ``links`` a count.
    """
    return {
        "summary": summary_json(outline.summary),
        "origin_ns": str(outline.origin_ns),
        "colors": service_colors(outline.services),
        "services": outline.services,
        "kinds": [SPAN_KINDS.get(k, str(k)) for k in range(max(SPAN_KINDS) + 1)],
        "statuses": [STATUS_CODES.get(c, str(c)) for c in range(max(STATUS_CODES) + 1)],
        "spans": {
            "id": outline.span_id,
            "parent": outline.parent_span_id,
            "service": outline.service,
            "name": outline.name,
            "start": outline.start,
            "duration": outline.duration,
            "status": outline.status_code,
            "kind": outline.kind,
            "events": outline.events,
            "links": outline.links,
        },
    }
