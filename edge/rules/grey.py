"""May a grey-locked card be unlocked here and now? (spec §2.4)

Layer: edge (pure rules core). The answer decides both the 0x35 grey-record answer and whether a grey card
presented at a nozzle is refused. Checked in this order, the first that holds wins:

1. same dispenser (same station, and the same PSAM terminal or dispenser id): at once, at any time;
2. same station, another dispenser: on the locking day (the calendar date of the locking time). A lock
   dated after today (a dispenser clock ahead of the controller's across midnight) counts as today's;
3. a station in the card's issuing province or in the province where it was locked: once the delay is
   over (`RulesConfig.grey_delay_mode`: 2 working days by default, or 48 hours; see `calendar`);
4. otherwise refused: another pump of this station after the locking day but before the delay ends
   (`GREY_OTHER_PUMP_AFTER_LOCK_DAY`), another station of the province before the delay ends
   (`GREY_WAIT_DELAY`), or a station outside both provinces (`GREY_OTHER_PROVINCE`; only an issuing outlet
   can unlock it, online).

Times are naive station-local datetimes. While the wall clock is in doubt (a step was seen,
`edge.clock_guard`) clauses 2 and 3 cannot allow (`GREY_WAIT_DELAY`): only the same dispenser unlocks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from edge.rules.asn import check_asn, province_from_asn
from edge.rules.calendar import WorkingCalendar
from edge.rules.config import RulesConfig
from edge.rules.errors import BadClock
from edge.rules.place import Place
from protocol.reasons import RefusalReason

__all__ = ["GreyLock", "UnlockRule", "UnlockVerdict", "may_unlock"]


@dataclass(frozen=True, slots=True)
class GreyLock:
    """A grey record (T_TYPE 1) the station holds: its own, or one the centre distributed."""

    asn: str
    locked_at: dt.datetime
    """Locking time (the record's TIME), naive station-local."""
    where: Place
    """The station, dispenser (and PSAM terminal) and province where the card was locked."""
    amount_owed: int
    """Amount to debit on unlock (AMN), in fen."""
    issuing_province: int | None = None
    """The card's issuing province; read from a 20-digit ASN when not given."""

    def __post_init__(self) -> None:
        check_asn(self.asn)
        if self.locked_at.tzinfo is not None:
            raise BadClock(self.locked_at)
        if self.issuing_province is None:
            object.__setattr__(self, "issuing_province", province_from_asn(self.asn))


class UnlockRule(StrEnum):
    """Which clause of §2.4 allowed the unlock."""

    SAME_DISPENSER = "same_dispenser"
    SAME_STATION_SAME_DAY = "same_station_same_day"
    PROVINCE_AFTER_DELAY = "province_after_delay"


@dataclass(frozen=True, slots=True)
class UnlockVerdict:
    """The answer of `may_unlock`."""

    allowed: bool
    reason: RefusalReason
    """`RefusalReason.NONE` when allowed."""
    rule: UnlockRule | None = None
    """The clause that allowed it; None when refused."""
    unlockable_from: dt.datetime | None = None
    """When refused for the delay: the moment it becomes unlockable here. None otherwise."""


def may_unlock(
    grey: GreyLock,
    here: Place,
    now: dt.datetime,
    calendar: WorkingCalendar,
    config: RulesConfig,
    *,
    clock_trusted: bool = True,
) -> UnlockVerdict:
    """Apply §2.4 to a grey record for a card presented at `here` at `now` (see the module docstring).
    With `clock_trusted` False (the wall clock was stepped) only clause 1 can allow: the others depend on
    the date or a delay, which a stepped clock would shorten."""
    if now.tzinfo is not None:
        raise BadClock(now)
    if here.same_dispenser(grey.where):
        return UnlockVerdict(True, RefusalReason.NONE, UnlockRule.SAME_DISPENSER)
    if not clock_trusted:
        return UnlockVerdict(False, RefusalReason.GREY_WAIT_DELAY)
    same_station = here.station_id == grey.where.station_id
    if same_station and now.date() <= grey.locked_at.date():
        return UnlockVerdict(True, RefusalReason.NONE, UnlockRule.SAME_STATION_SAME_DAY)
    if here.province not in (grey.where.province, grey.issuing_province):
        return UnlockVerdict(False, RefusalReason.GREY_OTHER_PROVINCE)
    opens = calendar.delay_end(
        grey.locked_at,
        config.grey_delay_mode,
        hours=config.grey_delay_hours,
        working_days=config.grey_delay_working_days,
    )
    if now >= opens:
        return UnlockVerdict(True, RefusalReason.NONE, UnlockRule.PROVINCE_AFTER_DELAY)
    reason = RefusalReason.GREY_OTHER_PUMP_AFTER_LOCK_DAY if same_station else RefusalReason.GREY_WAIT_DELAY
    return UnlockVerdict(False, reason, unlockable_from=opens)
