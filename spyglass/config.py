"""One registry of settings for the whole platform.

Every setting is declared once in :data:`SETTINGS` (name, kind, default, help). The CLI flags
(``--data-dir``), the environment variables (``SPYGLASS_DATA_DIR``), the optional YAML file
(``data_dir: ...``) and the documentation are all derived from that declaration. Precedence,
highest first: command-line flag, environment variable, YAML file, default.

Usage::

    settings = load_settings(argv_values={"ui_port": "0"}, environ=os.environ)
    settings.ui_port  # -> 0
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SETTINGS", "ConfigError", "Setting", "Settings", "load_settings"]


class ConfigError(ValueError):
    """A setting has a bad value; the message names the setting and what was wrong."""


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"expected an integer, got {text!r}")
    return int(text)


def _parse_count(raw: Any) -> int:
    value = _parse_int(raw)
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _parse_port(raw: Any) -> int:
    port = _parse_int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535 (0 picks a free port), got {port}")
    return port


def _parse_size(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(raw))
        if not match or match.group(2).lower() not in _SIZE_UNITS:
            raise ValueError(f"expected a size such as 64MiB, 500kB or 1048576, got {raw!r}")
        value = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"size must be positive, got {raw!r}")
    return value


def _parse_duration(raw: Any) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(raw))
        if not match:
            raise ValueError(f"expected a duration such as 50ms, 2s or 1m, got {raw!r}")
        value = float(match.group(1)) * _DURATION_UNITS[match.group(2) or ""]
    if value < 0:
        raise ValueError(f"duration must not be negative, got {raw!r}")
    return value


def _parse_list(raw: Any) -> list[str]:
    if isinstance(raw, (list, tuple)):
        return [str(item).strip() for item in raw if str(item).strip()]
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def _parse_str(raw: Any) -> str:
    text = str(raw).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return text

    return parse


@dataclass(frozen=True)
class Setting:
    """One setting: its name (snake_case), how to parse it, its default and its help text."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    metavar: str = "VALUE"
    const: str | None = None  # what the flag means when given without a value (``--demo``)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "SPYGLASS_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", _parse_str, "./spyglass-data", "Directory holding the DuckDB database.", "DIR"),
    Setting(
        "host",
        _parse_str,
        "127.0.0.1",
        "Address every listener binds. The default exposes nothing beyond this machine; "
        "use 0.0.0.0 to accept connections from other hosts.",
        "ADDR",
    ),
    Setting("otlp_grpc_port", _parse_port, 4317, "OTLP/gRPC port (0 picks a free port).", "PORT"),
    Setting("otlp_http_port", _parse_port, 4318, "OTLP/HTTP port (0 picks a free port).", "PORT"),
    Setting("ui_port", _parse_port, 8317, "Web UI and API port (0 picks a free port).", "PORT"),
    Setting(
        "max_request_size",
        _parse_size,
        64 * 1024**2,
        "Largest OTLP request accepted, checked before and after decompression (e.g. 64MiB).",
        "SIZE",
    ),
    Setting(
        "queue_max_bytes",
        _parse_size,
        512 * 1024**2,
        "Bound of the ingest queue, in bytes of decoded data waiting to be loaded into DuckDB; past "
        "three quarters of it a request is answered only once its rows are loaded or the queue is "
        "back below that mark, and when full receivers answer with OTLP retryable errors.",
        "SIZE",
    ),
    Setting(
        "commit_window",
        _parse_duration,
        0.02,
        "How long an idle writer waits for more batches to join one transaction (group commit); "
        "batches that queued during the previous commit go at once.",
        "DURATION",
    ),
    Setting(
        "load_window",
        _parse_duration,
        2.0,
        "How long a busy writer gathers acknowledged (spooled) rows for a DuckDB row group (122,880 "
        "rows of one table, written straight to the database file) before loading them; a query "
        "waiting for those rows cuts it short.",
        "DURATION",
    ),
    Setting(
        "wal_autocheckpoint",
        _parse_size,
        128 * 1024**2,
        "DuckDB WAL size at which the writer's checkpoint thread checkpoints (commits wait while it "
        "runs). Far above DuckDB's 16MB default, but not so large that memory grows with the WAL "
        "(measured).",
        "SIZE",
    ),
    Setting(
        "cors_allowed_origins",
        _parse_list,
        [],
        "Comma-separated origins allowed to send OTLP/HTTP from a browser ('*' for any).",
        "ORIGINS",
    ),
    Setting(
        "retry_after",
        _parse_duration,
        1.0,
        "Delay suggested to clients (Retry-After, gRPC RetryInfo) when the ingest queue is full; each "
        "refusal suggests a random delay between this and twice this, so clients do not retry in step.",
        "DURATION",
    ),
    Setting(
        "span_metrics_interval",
        _parse_duration,
        15.0,
        "How often span metrics and service-graph metrics (the OTel Collector's spanmetrics and "
        "servicegraph connectors) are written as metric points; 0 turns them off.",
        "DURATION",
    ),
    Setting(
        "span_metrics_cardinality_limit",
        _parse_count,
        1000,
        "Most span-metric series per resource (and service-graph edges); further combinations are "
        "counted in an otel.metric.overflow series. 0 means no limit.",
        "N",
    ),
    Setting(
        "service_graph_wait",
        _parse_duration,
        10.0,
        "How long a client or server span waits for its other half before it is dropped from the service graph.",
        "DURATION",
    ),
    Setting(
        "event_loop",
        _choice("auto", "uvloop", "asyncio"),
        "auto",
        "Event loop the listeners run on: uvloop (libuv, in C) or Python's asyncio loop; auto takes "
        "uvloop where it is installed (it is, on Linux and macOS). Measured: metric points over gRPC "
        "and HTTP about a fifth faster on uvloop.",
        "LOOP",
    ),
    Setting(
        "log_level",
        _choice("debug", "info", "warning", "error"),
        "info",
        "Logging level of the server.",
        "LEVEL",
    ),
    Setting(
        "rule_files",
        _parse_list,
        [],
        "Comma-separated globs of Prometheus-format rule files (alerting, recording and log rules); "
        "reloaded on SIGHUP, POST /api/v1/rules/reload and when a file changes.",
        "GLOBS",
    ),
    Setting(
        "rule_evaluation_interval",
        _parse_duration,
        60.0,
        "Evaluation interval of rule groups that set no interval (Prometheus's evaluation_interval).",
        "DURATION",
    ),
    Setting(
        "demo",
        _parse_bool,
        False,
        "Start the demo shop with the server (five instrumented services and a load generator sending "
        "to this Spyglass) and stop it with the server; its alert rules are evaluated unless --rule-files is given. "
        "`--demo` alone means true.",
        "BOOL",
        const="true",
    ),
    Setting(
        "self_tracing",
        _parse_bool,
        False,
        "Send Spyglass's own traces (UI and API requests; never the ingest path) into itself as service "
        "'spyglass'. `--self-tracing` alone means true.",
        "BOOL",
        const="true",
    ),
    Setting(
        "alerting_config",
        _parse_str,
        "",
        "Alertmanager-format file (route, receivers, inhibit_rules, time_intervals) for notifications; "
        "reloaded on SIGHUP, POST /api/v1/alerts/notifier/reload and when it changes. Empty: alerts are "
        "grouped and shown but not sent.",
        "FILE",
    ),
    Setting(
        "external_url",
        _parse_str,
        "",
        "Base URL people use to reach Spyglass, for links in notifications (default: http://HOST:UI_PORT).",
        "URL",
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The resolved settings; one attribute per entry of :data:`SETTINGS`."""

    data_dir: str = "./spyglass-data"
    host: str = "127.0.0.1"
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    ui_port: int = 8317
    max_request_size: int = 64 * 1024**2
    queue_max_bytes: int = 512 * 1024**2
    commit_window: float = 0.02
    load_window: float = 2.0
    wal_autocheckpoint: int = 128 * 1024**2
    cors_allowed_origins: list[str] = field(default_factory=list)
    retry_after: float = 1.0
    span_metrics_interval: float = 15.0
    span_metrics_cardinality_limit: int = 1000
    service_graph_wait: float = 10.0
    event_loop: str = "auto"
    log_level: str = "info"
    rule_files: list[str] = field(default_factory=list)
    rule_evaluation_interval: float = 60.0
    demo: bool = False
    self_tracing: bool = False
    alerting_config: str = ""
    external_url: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, each validated like any other source."""
        values = {s.name: getattr(self, s.name) for s in SETTINGS}
        for name, raw in changes.items():
            values[name] = _parse_one(_setting(name), raw, "argument")
        return Settings(**values)


def _setting(name: str) -> Setting:
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise ConfigError(f"unknown setting {name!r}; known settings: {known}") from None


def _parse_one(setting: Setting, raw: Any, source: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"invalid value for setting {setting.name!r} (from {source}): {exc}") from None


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of setting names to values")
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in _BY_NAME:
            known = ", ".join(sorted(_BY_NAME))
            raise ConfigError(f"config file {path}: unknown setting {key!r}; known settings: {known}")
        out[name] = value
    return out


def load_settings(
    argv_values: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Resolve every setting from flags, ``SPYGLASS_*`` variables, a YAML file and defaults.

    ``argv_values`` maps setting names to raw values given on the command line (``None`` meaning
    "not given"). ``config_file`` defaults to ``SPYGLASS_CONFIG`` when set. Raises
    :class:`ConfigError` naming the first bad setting.
    """
    environ = os.environ if environ is None else environ
    argv_values = argv_values or {}
    config_file = config_file or environ.get("SPYGLASS_CONFIG") or None
    from_file = _read_yaml(config_file) if config_file else {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if argv_values.get(setting.name) is not None:
            values[setting.name] = _parse_one(setting, argv_values[setting.name], f"flag {setting.flag}")
        elif setting.env in environ:
            values[setting.name] = _parse_one(setting, environ[setting.env], f"environment {setting.env}")
        elif setting.name in from_file:
            values[setting.name] = _parse_one(setting, from_file[setting.name], f"config file {config_file}")
        else:
            values[setting.name] = setting.default
    return Settings(**values)
