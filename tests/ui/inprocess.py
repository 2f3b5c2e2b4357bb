"""Requests to the UI app in process (no server, no browser), for page tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from fastapi import FastAPI

HTML = {"accept": "text/html,application/xhtml+xml"}


class Client:
    """Requests to the ASGI app in process, through httpx's ASGI transport.

    Each request runs its own event loop in a short-lived thread: Playwright's sync API (used by
    the browser tests in the same session) keeps an event loop marked running on the main thread.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://spyglass") as client:
                return await client.get(url, **kwargs)

        result: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(fetch())))
        thread.start()
        thread.join(60)
        return result[0]
