"""Query: trace, log and metric queries, service statistics, and the JSON API routers.

Plain functions take a storage :class:`~spyglass.storage.Database` and typed parameters and
return typed results; HTTP routers and the UI call the same functions.
"""

from __future__ import annotations

from ._api import api_router
from ._overview import Overview, ServiceSummary, overview

__all__ = ["Overview", "ServiceSummary", "api_router", "overview"]
