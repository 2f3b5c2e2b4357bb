"""Email over SMTP: STARTTLS and AUTH, a text and an HTML body from Jinja2 templates.

Configuration (``receivers[].email_configs[]``; ``smtp_*`` in ``global`` give the defaults)::

    to: oncall@example.com              # required; comma-separated for several
    from: spyglass@example.com          # global smtp_from
    smarthost: smtp.example.com:587     # global smtp_smarthost; port 465 means implicit TLS
    hello: spyglass.example.com         # EHLO name (global smtp_hello, default localhost)
    auth_username: spyglass             # global smtp_auth_username
    auth_password: secret               # global smtp_auth_password; never logged
    require_tls: true                   # global smtp_require_tls (default true): STARTTLS or fail
    tls_config: {ca_file: /etc/ssl/ca.pem, insecure_skip_verify: false, server_name: smtp.example.com}
    headers: {Subject: "..."}           # extra or replacing headers
    send_resolved: false                # as in Alertmanager

Alertmanager's ``html`` / ``text`` Go templates are not supported: the bodies come from
``templates/email.txt`` and ``templates/email.html`` and list every alert with its labels,
annotations, value (the ``value`` annotation), start (and end) time, and links to its source, to a
silence form prefilled with its labels, and to Spyglass's alerts page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import jinja2

from .._confutil import ConfigPathError, Section
from .._notification import NotificationData
from ._base import SendResult, redact

__all__ = ["EmailChannel", "parse", "render"]

_ENV_TEXT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=False, keep_trailing_newline=True
)
_ENV_HTML = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)


def _clock(ns: int) -> str:
    moment = dt.datetime.fromtimestamp(ns // 10**9, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


for _env in (_ENV_TEXT, _ENV_HTML):
    _env.filters["clock"] = _clock


def render(data: NotificationData) -> tuple[str, str]:
    """The text and HTML bodies of a notification."""
    return _ENV_TEXT.get_template("email.txt").render(data=data), _ENV_HTML.get_template("email.html").render(data=data)


@dataclass(frozen=True)
class EmailChannel:
    to: list[str]
    sender: str
    host: str
    port: int
    hello: str = "localhost"
    username: str = ""
    password: str = field(default="", repr=False)
    require_tls: bool = True
    ca_file: str = ""
    insecure_skip_verify: bool = False
    server_name: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    send_resolved: bool = False
    timeout: float = 30.0
    kind: str = "email"

    def target(self) -> str:
        return f"{', '.join(self.to)} via {self.host}:{self.port}"

    def message(self, data: NotificationData) -> EmailMessage:
        text, html = render(data)
        msg = EmailMessage()
        headers = {"Subject": data.title(), "From": self.sender, "To": ", ".join(self.to), **self.headers}
        for name, value in headers.items():
            msg[name] = value
        msg["Date"] = formatdate(localtime=False)
        msg["Message-Id"] = make_msgid(domain=self.hello or "spyglass")
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return msg

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _deliver(self, msg: EmailMessage) -> None:
        if self.port == 465:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, local_hostname=self.hello, timeout=self.timeout, context=self._tls()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.hello, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.port != 465 and smtp.has_extn("starttls"):
                if self.server_name:
                    smtp._host = self.server_name  # type: ignore[attr-defined]  # name checked in the certificate
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            elif self.port != 465 and self.require_tls:
                raise _NoTls(f"{self.host}:{self.port} does not offer STARTTLS and require_tls is true")
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg, from_addr=self.sender, to_addrs=self.to)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    async def send(self, data: NotificationData) -> SendResult:
        msg = self.message(data)
        payload = {"subject": str(msg["Subject"]), "to": self.to, "text": render(data)[0]}
        try:
            await asyncio.to_thread(self._deliver, msg)
        except _NoTls as exc:
            return SendResult(False, False, str(exc), payload)
        except smtplib.SMTPAuthenticationError as exc:
            return SendResult(
                False, False, self._error(f"authentication as {self.username} refused: {exc.smtp_code}"), payload
            )
        except smtplib.SMTPRecipientsRefused as exc:
            return SendResult(False, False, self._error(f"recipients refused: {', '.join(exc.recipients)}"), payload)
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            return SendResult(False, exc.smtp_code < 500, self._error(f"SMTP {exc.smtp_code}: {text}"), payload)
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult(False, True, self._error(f"{type(exc).__name__}: {exc}"), payload)
        return SendResult(True, payload=payload)

    def _error(self, text: str) -> str:
        return redact(f"{self.host}:{self.port}: {text}", self.password)


class _NoTls(Exception):
    pass


def parse(raw: Any, where: str, global_: dict[str, Any]) -> EmailChannel:
    sec = Section(
        raw,
        where,
        ["to", "from", "smarthost", "hello", "auth_username", "auth_password", "auth_identity", "require_tls",
         "tls_config", "headers", "send_resolved", "html", "text"],
    )  # fmt: skip
    for key in ("html", "text"):
        if sec.has(key):
            raise ConfigPathError(
                sec.path(key), "Go templates are not supported; Spyglass renders its own email bodies"
            )
    to = [t.strip() for t in sec.text("to", required=True).split(",") if t.strip()]
    sender = sec.text("from", str(global_.get("smtp_from") or ""))
    if not sender:
        raise ConfigPathError(sec.path("from"), "is required (or set global.smtp_from)")
    smarthost = sec.text("smarthost", str(global_.get("smtp_smarthost") or ""))
    host, _, port = smarthost.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigPathError(
            sec.path("smarthost"), f"expected host:port (or set global.smtp_smarthost), got {smarthost!r}"
        )
    tls = Section(sec.get("tls_config"), sec.path("tls_config"), ["ca_file", "insecure_skip_verify", "server_name"])
    ca_file = tls.text("ca_file")
    if ca_file and not Path(ca_file).is_file():
        raise ConfigPathError(tls.path("ca_file"), f"no such file {ca_file}")
    require = global_.get("smtp_require_tls", True)
    return EmailChannel(
        to=to,
        sender=sender,
        host=host.strip("[]"),
        port=int(port),
        hello=sec.text("hello", str(global_.get("smtp_hello") or "localhost")),
        username=sec.text("auth_username", str(global_.get("smtp_auth_username") or "")),
        password=sec.text("auth_password", str(global_.get("smtp_auth_password") or "")),
        require_tls=sec.flag("require_tls", bool(require)),
        ca_file=ca_file,
        insecure_skip_verify=tls.flag("insecure_skip_verify", False),
        server_name=tls.text("server_name"),
        headers=sec.mapping("headers"),
        send_resolved=sec.flag("send_resolved", False),
    )
