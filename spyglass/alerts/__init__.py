"""Alerts: rule loading and evaluation, routing, grouping, silences, inhibition and channels."""

from __future__ import annotations

from ._backend import StoreBackend, start_rules
from ._manager import RuleBackend, RuleGroup, RuleManager
from ._model import Alert, AlertSink
from ._rulefile import GroupSpec, LogCondition, RuleFileError, RuleSpec, load_rule_files
from ._rulesapi import rules_router
from ._template import TemplateError, expand_alert

__all__: list[str] = [
    "Alert",
    "AlertSink",
    "GroupSpec",
    "LogCondition",
    "RuleBackend",
    "RuleFileError",
    "RuleGroup",
    "RuleManager",
    "RuleSpec",
    "StoreBackend",
    "TemplateError",
    "expand_alert",
    "load_rule_files",
    "rules_router",
    "start_rules",
]
