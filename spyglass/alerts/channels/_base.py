"""What every channel shares: the result of a send, posting JSON, and keeping secrets out of messages."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from .._confutil import ConfigPathError, Section
from .._notification import NotificationData

__all__ = ["Channel", "HttpAuth", "SendResult", "close_clients", "post_json", "redact", "redact_url"]

USER_AGENT = "Spyglass-Alerts/0.1"


@dataclass
class SendResult:
    """How one attempt went: ``retryable`` says whether trying again may help (Alertmanager's ``retry bool``).

    ``error`` never contains a secret: URLs are reduced to scheme and host, passwords never appear.
    """

    ok: bool
    retryable: bool = False
    error: str = ""
    payload: Any = None


class Channel(Protocol):
    """One configured integration of a receiver (``webhook_configs[0]`` ...)."""

    @property
    def kind(self) -> str: ...

    @property
    def send_resolved(self) -> bool: ...

    def target(self) -> str:
        """Where it sends, without secrets (shown on the Receivers page)."""
        ...

    async def send(self, data: NotificationData) -> SendResult: ...


def redact_url(url: str) -> str:
    """``https://user:pw@hooks.slack.com/services/T/B/X`` -> ``https://hooks.slack.com/<redacted>``.

    Like Alertmanager's ``notify.RedactURL``, keep only what says where (scheme, host, port): the path
    of a Slack or webhook URL is often the secret itself.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<redacted>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, "/<redacted>" if parts.path not in ("", "/") or parts.query else "", "", ""))


def redact(text: str, *secrets: str) -> str:
    """Replace each secret (and any URL) in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    return re.sub(r"https?://[^\s'\"<>]+", lambda m: redact_url(m.group(0)), text)


@dataclass(frozen=True)
class HttpAuth:
    """``http_config``: ``basic_auth`` (username, password) or ``authorization`` (type, credentials)."""

    username: str = ""
    password: str = ""
    credentials: str = ""
    scheme: str = "Bearer"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, where: str) -> HttpAuth:
        sec = Section(raw, where, ["basic_auth", "authorization", "bearer_token"])
        auth = cls()
        if sec.has("basic_auth"):
            basic = Section(sec.get("basic_auth"), sec.path("basic_auth"), ["username", "password"])
            auth = cls(username=basic.text("username", required=True), password=basic.text("password"))
        if sec.has("authorization") or sec.has("bearer_token"):
            if auth.username:
                raise ConfigPathError(where, "basic_auth and authorization are mutually exclusive")
            if sec.has("authorization"):
                a = Section(sec.get("authorization"), sec.path("authorization"), ["type", "credentials"])
                auth = cls(credentials=a.text("credentials", required=True), scheme=a.text("type", "Bearer"))
            else:
                auth = cls(credentials=sec.text("bearer_token"))
        return auth

    def apply(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        if self.credentials:
            headers["Authorization"] = f"{self.scheme} {self.credentials}"
        return headers, (httpx.BasicAuth(self.username, self.password) if self.username else None)

    def secrets(self) -> tuple[str, ...]:
        return (self.password, self.credentials)


# One client (connection pool, TLS context) per event loop, shared by every HTTP channel: building a
# client loads the CA bundle (~50 ms, measured in bench/notify.py), too much per notification.
# Requests beyond _MAX_CONCURRENT wait on a semaphore, not in httpcore's pool queue, whose
# assignment is quadratic in the queue length (bench/notify.py, 1,000 groups flushing at once:
# 70% of the CPU in connection_pool._assign_requests_to_connections).
_MAX_CONCURRENT = 32
_clients: dict[asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, asyncio.Semaphore]] = {}


def _client() -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
    loop = asyncio.get_running_loop()
    entry = _clients.get(loop)
    if entry is None or entry[0].is_closed:
        limits = httpx.Limits(max_connections=_MAX_CONCURRENT)
        entry = _clients[loop] = (httpx.AsyncClient(limits=limits), asyncio.Semaphore(_MAX_CONCURRENT))
    return entry


async def close_clients() -> None:
    """Close this loop's shared HTTP client (the notifier calls it when it stops)."""
    entry = _clients.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry[0].aclose()


def _retryable_status(status: int) -> bool:
    # Alertmanager's notify.Retrier: 5xx (and 429) are worth retrying, other 4xx are not.
    return status >= 500 or status == 429


async def post_json(url: str, body: Any, *, auth: HttpAuth | None = None, timeout: float = 10.0) -> SendResult:
    """POST ``body`` as JSON; 2xx is success, 5xx/429/connection errors are retryable, other 4xx are not."""
    auth = auth or HttpAuth()
    headers, basic = auth.apply()
    data = json.dumps(body).encode()
    client, slots = _client()
    try:
        async with slots:
            response = await client.post(
                url,
                content=data,
                headers=headers,
                auth=basic or httpx.USE_CLIENT_DEFAULT,
                timeout=httpx.Timeout(timeout, pool=None),  # waiting for a connection is not a failure
            )
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        return SendResult(False, True, redact(f"{reason} posting to {url} : {exc}", *auth.secrets()), body)
    if 200 <= response.status_code < 300:
        return SendResult(True, payload=body)
    snippet = redact(response.text[:200].strip(), *auth.secrets())
    message = f"{redact_url(url)} answered HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
    return SendResult(False, _retryable_status(response.status_code), message, body)
