"""Exponential back-off with jitter for reconnecting.

Layer: uplink (pure; the random source is injected). Delays double from `min_s` up to `max_s`; each
delay is drawn uniformly from the upper half of the current step ("equal jitter"), so thousands of
stations that lost the broker at the same moment do not all come back in the same second, and a
station never retries faster than `min_s / 2`.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self, min_s: float, max_s: float, *, factor: float = 2.0, rand: Callable[[], float] = random.random
    ) -> None:
        if not 0 < min_s <= max_s or factor < 1:
            raise ValueError("need 0 < min_s <= max_s and factor >= 1")
        self._min = min_s
        self._max = max_s
        self._factor = factor
        self._rand = rand
        self._step = min_s
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt (and grow the step)."""
        step = self._step
        self._step = min(self._max, self._step * self._factor)
        self.attempts += 1
        return step / 2 + self._rand() * step / 2

    def reset(self) -> None:
        """A connection succeeded: start again from `min_s`."""
        self._step = self._min
        self.attempts = 0
