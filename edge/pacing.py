"""Poll pacing of a multi-drop line: when may a dispenser be polled next. [B1]

Layer: edge (pure core; the driver in `edge.multidrop` owns the clock and the waiting).

A real RS-485 bus carries a few dozen exchanges a second at 9600 baud; a controller that polls faster
than the station needs only burns CPU (and, on a pty or a fast adapter, polls hundreds of times a
second). Two numbers per line pace the loop:

- the **target cycle** (`poll_cycle_ms`): one poll cycle visits every dispenser once and lasts at least
  this long; an idle dispenser is therefore polled once per cycle. A bus that needs longer than the
  target for one cycle (many dispensers, low baud rate) runs its cycles back to back.
- the **minimum interval** (`min_poll_interval_ms`): no dispenser is polled more often than this. A busy
  dispenser (its last answer reported something: a nozzle, a record, a card, a request) is polled again
  as soon as its interval has passed, in the time the cycle has left, so sales and card decisions stay
  quick while an idle station costs little.

Follow-up exchanges inside one visit (the ack of a record, the answer to a card query, a download
segment) are not paced: the dispenser is waiting for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pacing:
    cycle_s: float = 0.0
    """Target duration of one poll cycle (0: no target)."""
    min_interval_s: float = 0.0
    """Least time between the starts of two visits to the same dispenser (0: none)."""

    @classmethod
    def from_ms(cls, cycle_ms: int, min_interval_ms: int) -> Pacing:
        return cls(cycle_ms / 1000, min_interval_ms / 1000)

    @property
    def paced(self) -> bool:
        return self.cycle_s > 0 or self.min_interval_s > 0

    def earliest(self, last_visit: float | None) -> float:
        """When a dispenser last visited at `last_visit` (monotonic s; None: never) may be visited."""
        return 0.0 if last_visit is None else last_visit + self.min_interval_s

    def cycle_end(self, cycle_started: float) -> float:
        """When the cycle begun at `cycle_started` may hand over to the next one."""
        return cycle_started + self.cycle_s

    def next_wake(self, now: float, cycle_started: float, busy_due: Iterable[float]) -> float | None:
        """While a cycle's remaining time is being filled: the moment to wake for the earliest busy
        dispenser or the cycle's end; None when the cycle is over at `now`."""
        end = self.cycle_end(cycle_started)
        if now >= end:
            return None
        return min((end, *busy_due))
