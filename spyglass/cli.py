"""The ``spyglass`` command.

``spyglass serve`` starts the platform; every setting of :mod:`spyglass.config` is a flag.
``spyglass settings`` prints the settings table (the README's copy is checked against it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from spyglass import __version__
from spyglass.config import SETTINGS, ConfigError, load_settings

__all__ = ["main"]


def _settings_epilog() -> str:
    lines = ["settings (flag, environment variable, default):"]
    for s in SETTINGS:
        lines.append(f"  {s.flag:<24} {s.env:<32} default: {_show_default(s.default)}")
    lines.append("  a YAML file given with --config (or SPYGLASS_CONFIG) may set any of them by name.")
    return "\n".join(lines)


def _show_default(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(value) or "(none)"
    return str(value) or "(none)"


def settings_markdown() -> str:
    """The settings as a Markdown table (README's "Settings" section)."""
    rows = ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        rows.append(f"| `{s.flag}` | `{s.env}` | `{_show_default(s.default)}` | {s.help} |")
    return "\n".join(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spyglass",
        description="Spyglass: self-hosted observability. OTLP traces, logs and metrics in, "
        "stored in an embedded DuckDB, browsed in a web UI.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"spyglass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="start the collector, storage, UI and API",
        description="Start Spyglass: OTLP/gRPC, OTLP/HTTP, and the UI + API, in one process.",
        epilog="Each flag can also be set with its SPYGLASS_* environment variable or in the YAML "
        "file given with --config. Precedence: flag, environment, file, default.",
    )
    serve.add_argument("--config", metavar="FILE", help="YAML file of settings (env: SPYGLASS_CONFIG)")
    for s in SETTINGS:
        extra: dict[str, Any] = {"nargs": "?", "const": s.const} if s.const is not None else {}
        serve.add_argument(
            s.flag,
            dest=s.name,
            metavar=s.metavar,
            default=None,
            help=f"{s.help} (env: {s.env}; default: {_show_default(s.default)})",
            **extra,
        )
    sub.add_parser("settings", help="print every setting as a Markdown table")
    promqltest = sub.add_parser(
        "promqltest",
        help="run Prometheus's PromQL test scripts against the engine",
        description="Run PromQL test scripts (Prometheus's promqltest format) on fresh stores; print one line per "
        "failed or unsupported eval and a summary 'N passed, M failed[, K skipped]'. Exit status 1 on a failure.",
    )
    promqltest.add_argument("files", nargs="+", metavar="FILE", help="a .test script")
    demo = sub.add_parser(
        "demo",
        help="run the demo shop against a Spyglass that is already running",
        description="Start five instrumented services and a load generator that send traces, logs and metrics "
        "to Spyglass, until Ctrl-C. (`spyglass serve --demo` starts Spyglass and the demo together.)",
    )
    demo.add_argument("--endpoint", default="http://127.0.0.1:4318", help="OTLP endpoint (default: %(default)s)")
    demo.add_argument("--protocol", choices=["http/protobuf", "grpc"], default="http/protobuf")
    demo.add_argument("--cycle", type=float, default=180.0, help="seconds of one weather cycle (default: %(default)s)")
    demo.add_argument("--rate", type=float, default=4.0, help="visits per second (default: %(default)s)")
    demo.add_argument("--rules", action="store_true", help="print the path of the demo's alert rule file and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "settings":
        print(settings_markdown())
        return 0
    if args.command == "promqltest":
        from spyglass.query.promql._promqltest import main as promqltest_main

        return promqltest_main(args.files)
    if args.command == "demo":
        from spyglass.demo import RULES_FILE, run_demo

        if args.rules:
            print(RULES_FILE)
            return 0
        return run_demo(args.endpoint, protocol=args.protocol, cycle=args.cycle, rate=args.rate)
    if args.command != "serve":
        parser.print_help()
        return 2
    values = {s.name: getattr(args, s.name) for s in SETTINGS}
    try:
        settings = load_settings(values, config_file=args.config)
    except ConfigError as exc:
        print(f"spyglass: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.demo:
        from spyglass.demo import missing_requirements

        if missing := missing_requirements():
            print(f"spyglass: the demo needs {', '.join(missing)}: pip install 'spyglass[demo]'", file=sys.stderr)
            return 2
    from spyglass.server import run  # imported late so `spyglass --help` stays fast
    from spyglass.storage import StorageError

    try:
        run(settings)  # picks the event loop before anything starts
    except ConfigError as exc:
        print(f"spyglass: {exc}", file=sys.stderr)
        return 2
    except (StorageError, OSError) as exc:
        print(f"spyglass: {exc}", file=sys.stderr)
        return 1
    return 0
