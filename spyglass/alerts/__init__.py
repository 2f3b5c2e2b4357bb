"""Alerts: rule loading and evaluation, routing, grouping, silences, inhibition and channels."""

from __future__ import annotations

from ._manager import RuleBackend, RuleGroup, RuleManager
from ._rulefile import GroupSpec, LogCondition, RuleFileError, RuleSpec, load_rule_files
from ._template import TemplateError, expand_alert

__all__: list[str] = [
    "GroupSpec",
    "LogCondition",
    "RuleBackend",
    "RuleFileError",
    "RuleGroup",
    "RuleManager",
    "RuleSpec",
    "TemplateError",
    "expand_alert",
    "load_rule_files",
]
