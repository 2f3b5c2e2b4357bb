"""The demo shop: five instrumented services and a load generator that feed Spyglass a moving picture.

``spyglass demo`` runs it against a Spyglass that is already running; ``spyglass serve --demo``
starts it with the platform and stops it with the platform. The services have weather (payment
errors in bursts, inventory latency spikes, a slow database query) and :data:`RULES_FILE` holds
Prometheus-format alert rules that fire on it.
"""

from __future__ import annotations

from ._catalog import SERVICES
from ._demo import RULES_FILE, Demo, missing_requirements, run_demo
from ._weather import WINDOWS, Weather

__all__ = ["RULES_FILE", "SERVICES", "WINDOWS", "Demo", "Weather", "missing_requirements", "run_demo"]
