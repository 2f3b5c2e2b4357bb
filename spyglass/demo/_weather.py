"""The demo's weather: trouble that comes and goes on a fixed cycle, the same in every process.

Every process of the demo gets the same start time and cycle length, so they agree on what the
weather is without talking to each other. Windows are fractions of the cycle, so a short cycle
(the tests use a few seconds) still has every kind of trouble in it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["WINDOWS", "Weather"]

# name -> (start, end) as fractions of the cycle; with the default 3-minute cycle: payment fails
# from 0:18 to 0:54, inventory is slow from 1:12 to 1:48, the orders database from 2:06 to 2:33.
WINDOWS: dict[str, tuple[float, float]] = {
    "payment_errors": (0.10, 0.30),
    "inventory_latency": (0.40, 0.60),
    "slow_query": (0.70, 0.85),
}


@dataclass(frozen=True)
class Weather:
    """The weather of one demo run: ``Weather(start, cycle).active("slow_query")``."""

    start: float
    cycle: float

    def phase(self, now: float | None = None) -> float:
        """Where in the cycle ``now`` falls, from 0 (inclusive) to 1 (exclusive)."""
        elapsed = (time.time() if now is None else now) - self.start
        return (elapsed % self.cycle) / self.cycle

    def active(self, name: str, now: float | None = None) -> bool:
        begin, end = WINDOWS[name]
        return begin <= self.phase(now) < end
