from __future__ import annotations

import httpx

from spyglass.storage import DB_FILENAME


def test_server_answers_health_and_home(server) -> None:
    assert httpx.get(server.ui_url + "/healthz").text == "ok"
    assert httpx.get(server.ui_url + "/readyz").text == "ready"
    page = httpx.get(server.ui_url + "/")
    assert page.status_code == 200
    assert "Nothing received yet" in page.text
    assert (server.server.db.path.name) == DB_FILENAME
