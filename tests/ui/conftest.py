"""Browser fixtures: one Debian Chromium for the whole session, driven by Playwright's sync API.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``make test``
installs it from Debian when missing) with flags that keep it off the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inprocess import Client
from playwright.sync_api import Browser, Page, sync_playwright

from spyglass._selfmetrics import SelfMetrics
from spyglass.storage import Database
from spyglass.ui import UiContext, create_ui_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh 1280 px page; JavaScript errors on it fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    context.close()
    assert errors == []


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """The UI app over an empty store in a temporary directory, called in process."""
    db = Database.open(tmp_path / "data")
    yield Client(create_ui_app(db, SelfMetrics(), UiContext(otlp_http_url="http://127.0.0.1:4318")))
    db.close()
