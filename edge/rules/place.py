"""Where a card is presented: station, dispenser and province.

Layer: edge (pure rules core).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Place"]


@dataclass(frozen=True, slots=True)
class Place:
    """A dispenser of a station. Also used for where a grey card was locked."""

    station_id: str
    """The station number (S_ID, 8 BCD digits, as a string)."""
    dispenser_id: int
    """The dispenser (its POS-P address on the line), unique within the station."""
    province: int
    """The station's province, in the ASN form (0x11 Beijing, 0x32 Jiangsu, ...)."""
    terminal_id: str | None = None
    """The dispenser's PSAM terminal id (12 hex digits) when known; it identifies the dispenser across
    re-addressing and is what the card records as the locking terminal."""

    def same_dispenser(self, other: Place) -> bool:
        """Same station and same dispenser: the same PSAM terminal when both terminal ids are known, else
        the same dispenser id."""
        if self.station_id != other.station_id:
            return False
        if self.terminal_id is not None and other.terminal_id is not None:
            return self.terminal_id == other.terminal_id
        return self.dispenser_id == other.dispenser_id
