"""A dispenser's place on a line: the current `Dispenser` object and whether it has power.

Layer: firmware-sim. A power cycle swaps `dev` for a fresh object reloaded from the state file; runners,
traffic and scenarios always go through the slot, never hold a `Dispenser` across awaits.
"""

from __future__ import annotations

from dataclasses import dataclass

from station_sim.device import Dispenser


@dataclass(slots=True)
class Slot:
    dev: Dispenser
    powered: bool = True
    generation: int = 0
    """+1 at every power cycle: an activity started before it knows it was interrupted."""
