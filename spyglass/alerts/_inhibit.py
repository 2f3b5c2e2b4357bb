"""Inhibition, as Alertmanager's ``inhibit`` package decides it.

An alert is inhibited when some rule's ``target_matchers`` match it and a *source* alert exists
that (1) is not resolved, (2) matches the rule's ``source_matchers``, and (3) has the same value
for every label in ``equal`` (a label missing on both sides counts as equal). When the target also
matches the source matchers, sources that also match the target matchers are ignored, so an alert
never inhibits itself or its peers (Alertmanager's ``excludeTwoSidedMatch``). Sources are all
alerts the dispatcher holds, whatever their group or route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ._amconfig import InhibitRule
from ._matchers import matchers_match
from ._model import Alert
from ._notification import go_fingerprint

__all__ = ["Inhibitor"]


class Inhibitor:
    """``inhibited_by(labels, now)`` -> fingerprints of the alerts that inhibit it (empty: not inhibited)."""

    def __init__(self, rules: list[InhibitRule], alerts: Callable[[], Iterable[Alert]]) -> None:
        self.rules = rules
        self._alerts = alerts

    def inhibited_by(self, labels: Mapping[str, str], now_ns: int) -> list[str]:
        for rule in self.rules:
            if not matchers_match(rule.target_matchers, labels):
                continue
            two_sided = matchers_match(rule.source_matchers, labels)
            sources = []
            for source in self._alerts():
                if source.resolved(now_ns) or not matchers_match(rule.source_matchers, source.labels):
                    continue
                if two_sided and matchers_match(rule.target_matchers, source.labels):
                    continue
                if all(source.labels.get(name, "") == labels.get(name, "") for name in rule.equal):
                    sources.append(go_fingerprint(source.labels))
            if sources:
                return sorted(sources)
        return []

    def mutes(self, labels: Mapping[str, str], now_ns: int) -> bool:
        return bool(self.inhibited_by(labels, now_ns))
