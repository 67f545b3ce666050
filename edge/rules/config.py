"""Settings of the local card rules, with their documented defaults.

Layer: edge (pure rules core). The daemon's configuration model builds one `RulesConfig` from the station's
TOML file (and the centre's signed configuration); the rules only read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.rules.calendar import GreyDelayMode
from edge.rules.errors import BadRulesConfig

__all__ = ["RulesConfig"]


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """How strictly this station applies the card rules. Every field has a safe default."""

    cylinder_alarm_advance_days: int = 10
    """Warn the attendant when a CNG cylinder inspection falls due within this many days. A card whose
    valid-until date is today is still allowed (with a warning); the day after, it is refused."""

    grey_delay_mode: GreyDelayMode = GreyDelayMode.WORKING_DAYS
    """How the delay before a grey card can be unlocked elsewhere in the province is counted."""

    grey_delay_hours: int = 48
    """The delay in `GreyDelayMode.HOURS` mode."""

    grey_delay_working_days: int = 2
    """The delay in `GreyDelayMode.WORKING_DAYS` mode: unlockable from 00:00 of the 2nd working day after
    the locking date."""

    lost_card_grace_working_days: int = 2
    """A card reported lost keeps working (with a warning; sales are the holder's risk) until 00:00 of this
    many working days after the report, as in the Sinopec scheme. 0 refuses it at once. A lost card on
    the blacklist is refused regardless."""

    accepted_card_classes: frozenset[int] | None = None
    """CNG card classes accepted here; None accepts all. Cards without a CNG profile are not affected."""

    accepted_provinces: frozenset[int] | None = None
    """Issuing provinces (as 0x11 ints) whose user cards are accepted; None accepts all. The station's own
    province is always accepted."""

    require_cng_profile: bool = False
    """A CNG station sets this: a user card without a CNG vehicle profile is refused as "cylinder not
    registered"."""

    require_plate_match: bool = False
    """For plate-bound cards: refuse when the vehicle plate is not known to the controller. When False,
    the card is allowed and the attendant is told to check the plate."""

    def __post_init__(self) -> None:
        for name in (
            "cylinder_alarm_advance_days",
            "grey_delay_hours",
            "grey_delay_working_days",
            "lost_card_grace_working_days",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise BadRulesConfig(name, value)
