"""Fault injection: corrupted bytes, dropped frames, late replies (power cycles live in `sim`).

Layer: firmware-sim (pure decisions from an injected random generator; every fault injected is reported
through `emit` as a ledger `fault` event). Faults act only on what the DISPENSER sends:

- corrupt: each byte written is replaced, with probability `corrupt_rate`, by a random different byte
  (on the wire, after escaping; the header can be hit too);
- drop: a whole frame the dispenser would send is not sent (received frames are never dropped);
- late: an answer to the controller is held back `late_ms` (default: the line's reply timeout + 100 ms)
  so that it arrives after the controller gave up.

Scenario actions `corrupt` / `drop` override a line's rate for a while (`override`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class FaultSettings:
    corrupt_rate: float = 0.0
    drop_rate: float = 0.0
    late_rate: float = 0.0
    late_ms: int = 0
    """0 = the line's reply timeout plus 100 ms."""


class Faults:
    """Fault decisions for one line."""

    def __init__(
        self,
        settings: FaultSettings,
        rng: random.Random,
        emit: Emit,
        line: str,
        mono: Callable[[], float],
        default_late_s: float,
    ) -> None:
        self.settings = settings
        self.rng = rng
        self._emit = emit
        self.line = line
        self.mono = mono
        self.default_late_s = default_late_s
        self._overrides: dict[str, tuple[float, float]] = {}

    def override(self, kind: str, rate: float, for_s: float) -> None:
        """Use `rate` for `kind` ("corrupt" or "drop") during the next `for_s` seconds."""
        self._overrides[kind] = (rate, self.mono() + for_s)
        self._emit(
            {"event": "fault", "line": self.line, "kind": f"{kind}_window", "rate": rate, "for_s": for_s}
        )

    def rate(self, kind: str) -> float:
        over = self._overrides.get(kind)
        if over is not None:
            if self.mono() < over[1]:
                return over[0]
            del self._overrides[kind]
        return float(getattr(self.settings, f"{kind}_rate"))

    def drop(self, dispenser: int, command: int) -> bool:
        rate = self.rate("drop")
        if rate > 0 and self.rng.random() < rate:
            self._emit(
                {
                    "event": "fault",
                    "line": self.line,
                    "dispenser": dispenser,
                    "kind": "drop",
                    "command": command,
                }
            )
            return True
        return False

    def corrupt(self, wire: bytes, dispenser: int, command: int) -> bytes:
        rate = self.rate("corrupt")
        if rate <= 0:
            return wire
        out = bytearray(wire)
        hit = []
        for i in range(len(out)):
            if self.rng.random() < rate:
                out[i] = (out[i] + self.rng.randint(1, 255)) & 0xFF
                hit.append(i)
        if hit:
            self._emit(
                {
                    "event": "fault",
                    "line": self.line,
                    "dispenser": dispenser,
                    "kind": "corrupt",
                    "command": command,
                    "offsets": hit,
                }
            )
        return bytes(out)

    def late(self, dispenser: int, command: int) -> float:
        """Seconds to hold an answer back (0 = on time)."""
        rate = self.settings.late_rate
        if rate > 0 and self.rng.random() < rate:
            delay = self.settings.late_ms / 1000 if self.settings.late_ms else self.default_late_s
            self._emit(
                {
                    "event": "fault",
                    "line": self.line,
                    "dispenser": dispenser,
                    "kind": "late",
                    "command": command,
                    "delay_ms": round(delay * 1000),
                }
            )
            return delay
        return 0.0
