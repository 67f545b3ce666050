"""Types of the dispenser model: its set-up, nozzles, card sessions and pending jobs.

Layer: firmware-sim (pure data). `device.Dispenser` holds and changes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum

from protocol.messages import GreyQuery
from protocol.record import EMP_NONE
from protocol.sale_request import SaleRequest
from station_sim.cards import Card
from station_sim.errors import SimError

DEFAULT_FUEL_SPEED = 50
"""0.01 units per second (0.5 L/s)."""
DEFAULT_CARD_ANSWER_TIMEOUT_S = 20.0
"""A card waiting this long for the controller's answer (0x36 / 0x35) is refused by the dispenser."""


class DeviceError(SimError):
    """An action that does not fit the nozzle's state (lift without an authorised card …)."""


class Decision(Enum):
    CHECKING = "checking"
    AUTHORISED = "allowed"
    REFUSED = "refused"


class Purpose(Enum):
    SALE = "sale"
    ON_DUTY = "on_duty"
    OFF_DUTY = "off_duty"


@dataclass(frozen=True, slots=True)
class NozzleSetup:
    nzn: int
    g_code: str
    prices: tuple[int, ...] = ()
    """Price levels from the configuration (fen per unit); the downloaded table overrides them."""
    unit: str = "L"
    """Volume unit of the product (`L`, `m3`, `kg`); gas nozzles draw CNG cards in random traffic."""


@dataclass(frozen=True, slots=True)
class StationIdentity:
    province: str = "11"
    city: str = "01"
    superior: str = "00000000"
    s_id: str = "00000001"


@dataclass(frozen=True, slots=True)
class DeviceSetup:
    line: str
    pos_p: int
    nozzles: tuple[NozzleSetup, ...]
    station: StationIdentity = StationIdentity()
    fuel_speed: int = DEFAULT_FUEL_SPEED
    """Fuelling speed in 0.01 units per second."""
    decides_everything_locally: bool = False
    """A dispenser that ignores spec B10: it decides every card its lists can decide, CNG cards too
    (the controller must defeat it by withholding the blacklists)."""
    card_answer_timeout_s: float = DEFAULT_CARD_ANSWER_TIMEOUT_S
    """How long a card waits for the controller's answer before the dispenser refuses it
    (`CONTROLLER_UNREACHABLE`): the degraded mode while the controller is down."""


@dataclass(slots=True)
class Session:
    purpose: Purpose
    card: Card | None
    """None for a cash sale (or after the card was pulled mid-sale)."""
    decision: Decision
    reason: int = 0
    up: bool = False
    fuelling: bool = False
    target_amn: int | None = None
    target_vol: int | None = None
    cap_amn: int | None = None
    """A card sale never dispenses more than the card's balance."""
    vol_f: float = 0.0
    vol: int = 0
    amn: int = 0
    prc: int = 0
    g_code: str = ""
    start: dt.datetime | None = None
    last_mono: float = 0.0
    target_reached: bool = False
    greyed: bool = False
    finished: bool = False
    """A card sale was completed (hang_up): the card waits to be pulled."""
    reported: bool = False
    """The card has been reported in a 0x31 ST=1: only then may its 0x36 / 0x35 go out, so the
    controller holds the card's data (CNG profile) before it decides."""
    request: SaleRequest | None = None
    """The preset and vehicle plate taken before the card was authorised (sent in IC_DATA)."""
    asked_mono: float | None = None
    """When the card's question (0x36 / 0x35) was queued; None when none waits."""

    @property
    def cash(self) -> bool:
        return self.card is None and not self.greyed


@dataclass(slots=True)
class Nozzle:
    nzn: int
    g_code: str
    prices: tuple[int, ...]
    v_tot: int
    unit: str = "L"
    emp: int = EMP_NONE
    session: Session | None = None


@dataclass(slots=True)
class Jobs:
    grey: list[tuple[int, GreyQuery]] = field(default_factory=list)
    lists: list[tuple[int, str]] = field(default_factory=list)
    errors: list[bytes] = field(default_factory=list)
