"""From the dispenser's CNG profile (spec B5, `protocol.cng`) to the rules' card facts.

Layer: edge (pure rules core). The wire profile packs a few limits with "0 = none" and one per-fill cap
in the mode's unit; the rules keep money and volume limits apart and use None for "no limit":

    wire field       rules field
    ---------------  ----------------------------------------------------------------
    card_class       CngProfile.card_class
    mode             CngProfile.mode (same enum)
    price_level      CngProfile.price_level
    cylinder date    CngProfile.cylinder_valid_until (00000000 on the wire = None = not registered)
    plate            CngProfile.plate, and CardLimits.restricted_plate: a CNG card is issued for one
                     vehicle (its vehicle file), so a different plate reported at the nozzle is refused
    per_fill_cap     CardLimits.per_fill_volume for volume modes, else per_fill_amount; 0 = None
    fills_per_day    CardLimits.fills_per_day; 0 = None
    amount_per_day   CardLimits.amount_per_day (fen); 0 = None
"""

from __future__ import annotations

from dataclasses import replace

from edge.rules.cards import CardLimits, CngProfile, in_volume
from protocol import cng as wire

__all__ = ["from_wire_profile"]


def _none_if_zero(value: int) -> int | None:
    return value or None


def from_wire_profile(
    profile: wire.CngProfile, limits: CardLimits | None = None
) -> tuple[CngProfile, CardLimits]:
    """The rules' profile and limits for a wire profile. `limits` (e.g. restrictions the system keeps for
    the card) is the base the wire's limits are written over."""
    base = limits if limits is not None else CardLimits()
    cap = _none_if_zero(profile.per_fill_cap)
    volume_mode = in_volume(profile.mode)
    merged = replace(
        base,
        per_fill_amount=base.per_fill_amount if volume_mode else cap,
        per_fill_volume=cap if volume_mode else base.per_fill_volume,
        fills_per_day=_none_if_zero(profile.fills_per_day),
        amount_per_day=_none_if_zero(profile.amount_per_day),
        restricted_plate=profile.plate or base.restricted_plate,
    )
    rules_profile = CngProfile(
        card_class=profile.card_class,
        mode=profile.mode,
        price_level=profile.price_level,
        cylinder_valid_until=profile.cylinder_valid_until,
        plate=profile.plate,
    )
    return rules_profile, merged
