"""The native JSON API under ``/api/v1/``: thin wrappers around the query functions."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from ._overview import overview

__all__ = ["api_router"]


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["native"])

    @router.get("/overview", summary="Totals of spans, logs and metric points, per service")
    async def get_overview(request: Request) -> dict[str, Any]:
        result = await asyncio.to_thread(overview, request.app.state.db)
        return asdict(result)

    return router
