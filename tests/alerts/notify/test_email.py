"""Email through a real SMTP server (aiosmtpd) that requires STARTTLS and AUTH: what arrives, whole."""

from __future__ import annotations

import email
import email.policy
import gc
import re
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from spyglass.alerts import Alert

from .conftest import EXTERNAL_URL, free_port

HOUR = 3600 * 10**9
T0 = 1_795_000_000 * 10**9  # 2026-11-18 11:06:40 UTC


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.cond:
            self.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "tls": session.ssl is not None,
                    "login": session.auth_data.login if session.authenticated else None,
                    "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
                }
            )
            self.cond.notify_all()
        return "250 OK"

    def wait(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < count:
                if not self.cond.wait(max(deadline - time.monotonic(), 0.01)) and time.monotonic() > deadline:
                    raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            return list(self.messages)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"spyglass", b"s3cret!")
        return AuthResult(success=ok, handled=False, auth_data=data)

    box = Mailbox()
    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True, auth_required=True,
        authenticator=authenticator,
    )  # fmt: skip
    controller.start()
    yield box, port, cert
    controller.stop()
    # aiosmtpd (1.4) leaves the plain transport under a STARTTLS session unclosed; collect it here,
    # where its ResourceWarning is aiosmtpd's and not the next test's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _config(port: int, cert: Path, password: str = "s3cret!") -> str:
    return f"""
global:
  smtp_from: spyglass@example.com
  smtp_smarthost: 127.0.0.1:{port}
route: {{receiver: mail, group_by: [alertname], group_wait: 200ms, group_interval: 1s, repeat_interval: 1h}}
receivers:
  - name: mail
    email_configs:
      - to: oncall@example.com, db@example.com
        auth_username: spyglass
        auth_password: '{password}'
        tls_config: {{ca_file: '{cert}'}}
        headers: {{X-Team: db}}
        send_resolved: true
"""


def test_email_over_starttls_with_auth_lists_every_alert(harness: Any, smtp: Any) -> None:
    box, port, cert = smtp
    h = harness(_config(port, cert))
    a = Alert(
        {"alertname": "DiskFull", "instance": "db1:9100", "severity": "page"},
        {"summary": "Disk <90%> full", "value": "93.5"},
        T0, T0 + 1000 * HOUR, "http://spyglass.test:8317/graph?g0.expr=disk",
    )  # fmt: skip
    b = Alert(
        {"alertname": "DiskFull", "instance": "db2:9100", "severity": "page"},
        {"summary": "Disk full"},
        T0 + 10**9,
        T0 + 1000 * HOUR,
    )
    h.put(a, b)
    got = box.wait(1)[0]
    assert (got["from"], got["to"], got["tls"], got["login"]) == (
        "spyglass@example.com", ["oncall@example.com", "db@example.com"], True, b"spyglass",
    )  # fmt: skip
    msg = got["message"]
    assert (msg["Subject"], msg["From"], msg["To"], msg["X-Team"]) == (
        "[FIRING:2] DiskFull (page)", "spyglass@example.com", "oncall@example.com, db@example.com", "db",
    )  # fmt: skip
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # SMTP lines end in CRLF
    silence_a = (
        EXTERNAL_URL + "/silences/new?matchers=" + quote('{alertname="DiskFull",instance="db1:9100",severity="page"}')
    )
    silence_b = (
        EXTERNAL_URL + "/silences/new?matchers=" + quote('{alertname="DiskFull",instance="db2:9100",severity="page"}')
    )
    assert (
        text
        == f"""[FIRING:2] DiskFull (page)

2 firing, 0 resolved. Receiver: mail.
Group: alertname=DiskFull
All alerts: {EXTERNAL_URL}/alerts

--- [FIRING] DiskFull
Started: 2026-11-18 11:06:40 UTC
Value:   93.5
Labels:
  alertname = DiskFull
  instance = db1:9100
  severity = page
Annotations:
  summary = Disk <90%> full
  value = 93.5
Source:  http://spyglass.test:8317/graph?g0.expr=disk
Silence: {silence_a}

--- [FIRING] DiskFull
Started: 2026-11-18 11:06:41 UTC
Labels:
  alertname = DiskFull
  instance = db2:9100
  severity = page
Annotations:
  summary = Disk full
Silence: {silence_b}

--{" "}
Sent by Spyglass ({EXTERNAL_URL}) · group {{}}:{{alertname="DiskFull"}}
"""
    )
    html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    rows = re.findall(r'<tr class="(label|annotation)"><td[^>]*>([^<]*)</td><td[^>]*>(?:<code>)?([^<]*)', html)
    assert rows == [
        ("label", "alertname", "DiskFull"), ("label", "instance", "db1:9100"), ("label", "severity", "page"),
        ("annotation", "summary", "Disk &lt;90%&gt; full"), ("annotation", "value", "93.5"),
        ("label", "alertname", "DiskFull"), ("label", "instance", "db2:9100"), ("label", "severity", "page"),
        ("annotation", "summary", "Disk full"),
    ]  # fmt: skip
    links = re.findall(r'<a class="(\w+)" href="([^"]*)"', html)
    assert links == [
        ("all", f"{EXTERNAL_URL}/alerts"),
        ("source", "http://spyglass.test:8317/graph?g0.expr=disk"),
        ("silence", silence_a.replace("&", "&amp;")),
        ("silence", silence_b),
    ]
    assert re.findall(r'<div class="since"[^>]*>([^<]*)</div>', html) == [
        "Started 2026-11-18 11:06:40 UTC", "Started 2026-11-18 11:06:41 UTC",
    ]  # fmt: skip
    assert re.findall(r'<div class="value">Value: <strong>([^<]*)</strong>', html) == ["93.5"]
    # Resolution goes out (send_resolved) with the end time.
    h.put(Alert(a.labels, a.annotations, T0, T0 + 5 * 10**9, a.generator_url))
    second = box.wait(2)[1]["message"]
    assert second["Subject"] == "[FIRING:1] DiskFull (page)"
    assert "--- [RESOLVED] DiskFull\nStarted: 2026-11-18 11:06:40 UTC\nEnded:   2026-11-18 11:06:45 UTC\n" in (
        second.get_body(("plain",)).get_content().replace("\r\n", "\n")
    )


def test_refused_login_fails_without_retry_and_without_the_password(harness: Any, smtp: Any) -> None:
    box, port, cert = smtp
    h = harness(_config(port, cert, password="wrong-pass"))
    h.put(Alert({"alertname": "X"}, {}, T0, T0 + 1000 * HOUR))
    deadline = time.monotonic() + 10
    while not h.alerting.state.history(limit=1) and time.monotonic() < deadline:
        time.sleep(0.05)
    row = h.alerting.state.history(limit=1)[0]
    assert (row.status, row.attempts, row.error) == (
        "failed",
        1,
        f"127.0.0.1:{port}: authentication as spyglass refused: 535",
    )
    assert box.messages == []
