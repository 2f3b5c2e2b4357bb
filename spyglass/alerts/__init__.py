"""Alerts: rule loading and evaluation, routing, grouping, silences, inhibition and channels.

Rule evaluation (Prometheus's part) is :class:`RuleManager`; the notification half
(Alertmanager's part) is :class:`Alerting`: a :class:`Dispatcher` that is the :class:`AlertSink`
rule evaluation sends to, silences, the notification log and channels.
"""

from __future__ import annotations

from ._amconfig import AlertingConfig, AlertingConfigError, load_alerting_config
from ._api import notifier_router
from ._backend import StoreBackend, start_rules
from ._dispatch import Dispatcher
from ._manager import RuleBackend, RuleGroup, RuleManager
from ._matchers import Matcher, MatcherError, matchers_match, parse_matchers
from ._model import Alert, AlertSink, label_fingerprint
from ._notification import AlertData, NotificationData
from ._notify import Backoff, Notifier
from ._rulefile import GroupSpec, LogCondition, RuleFileError, RuleSpec, load_rule_files
from ._rulesapi import rules_router
from ._service import Alerting, ReloadStatus
from ._silence import Silence, Silences
from ._template import TemplateError, expand_alert

__all__: list[str] = [
    "Alert",
    "AlertData",
    "AlertSink",
    "Alerting",
    "AlertingConfig",
    "AlertingConfigError",
    "Backoff",
    "Dispatcher",
    "GroupSpec",
    "LogCondition",
    "Matcher",
    "MatcherError",
    "NotificationData",
    "Notifier",
    "ReloadStatus",
    "RuleBackend",
    "RuleFileError",
    "RuleGroup",
    "RuleManager",
    "RuleSpec",
    "Silence",
    "Silences",
    "StoreBackend",
    "TemplateError",
    "expand_alert",
    "label_fingerprint",
    "load_alerting_config",
    "load_rule_files",
    "matchers_match",
    "notifier_router",
    "parse_matchers",
    "rules_router",
    "start_rules",
]
