"""A scripted RuleBackend: expressions answer from a table, writes are kept in memory."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from spyglass.alerts._alerting import SampleOut
from spyglass.alerts._model import Alert, label_fingerprint
from spyglass.alerts._rulefile import LogCondition
from spyglass.query.promql._model import is_stale

Answer = Callable[[int], list[tuple[dict[str, str], float]]]


class ScriptedBackend:
    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.written: list[SampleOut] = []
        self.logs: Callable[[LogCondition, int], float] = lambda cond, t: 0.0

    def query(self, expr: str, t_ms: int) -> list[tuple[dict[str, str], float]]:
        expr = expr.replace("{}", "")
        if expr not in self.answers:
            raise RuntimeError(f"no answer scripted for {expr}")
        return self.answers[expr](t_ms)

    def count_logs(self, cond: LogCondition, t_ms: int) -> float:
        return self.logs(cond, t_ms)

    def write(self, samples: list[SampleOut]) -> None:
        self.written += samples

    def for_state(self, alertname: str, start_ms: int, end_ms: int) -> dict[str, tuple[int, float]]:
        last: dict[str, tuple[int, float]] = {}
        for labels, t, v in self.written:
            name, rule = labels.get("__name__"), labels.get("alertname")
            if name == "ALERTS_FOR_STATE" and rule == alertname and start_ms <= t <= end_ms:
                key = label_fingerprint({k: x for k, x in labels.items() if k != "__name__"})
                last[key] = (t, math.nan if is_stale(np.array([v])).any() else v)
        return last

    def check_expr(self, expr: str) -> None:
        import promql_parser

        promql_parser.parse(expr)

    def check_logs(self, cond: LogCondition) -> None:
        return None


class ListSink:
    def __init__(self) -> None:
        self.batches: list[list[Alert]] = []

    def put(self, alerts: list[Alert]) -> None:
        self.batches.append(alerts)
