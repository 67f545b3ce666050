"""`decide(request, context) -> Decision`: the card rules of spec §4, applied in order, offline.

Layer: edge (pure rules core): no I/O, no asyncio; clock, calendar, lists and counters come in through
the `DecisionContext`. The first rule that fails gives the refusal reason; warnings collected up to the
end are kept on allowed cards.

1. Card dates: expired (`valid_until` before today; the expiry day itself is still valid), not yet valid.
2. Kind, status and lists: unknown kind code; status lost (refused once the loss is in force: 00:00 of
   `lost_card_grace_working_days` working days after the report; before that, allowed with a warning),
   blacklisted, cancelled, replaced, damaged. User cards: blacklist, then accepted provinces. Internal
   cards: their own station only (when the card names one), then the white list.
3. PIN locked.
4. Grey card: the station must hold its grey record and `grey.may_unlock` must allow it here and now; the
   card is then allowed with a "debit the amount owed first" warning.
5. CNG vehicle profile: card class accepted; cylinder valid-until missing → refused (not registered),
   before today → refused, within `cylinder_alarm_advance_days` (today and exactly N days ahead
   included) → allowed with a warning. A user card without a profile is refused as not registered only
   when `require_cng_profile` is set.
6. Limits: fixed station, restricted products (when the product is known), restricted plate (when the
   plate is known; otherwise a warning, or a refusal with `require_plate_match`), fills per day; then the
   money budgets (per-fill cap, today's remaining amount, prepaid balance or remaining credit) and the
   volume budgets, likewise: an exhausted budget refuses with its reason, and a preset above the smallest
   budget refuses with the reason of that budget.
7. Price: prepaid-volume cards debit volume and take no price; others take the nozzle price at the card's
   level (a single nozzle price serves every level; a missing level is refused).
"""

from __future__ import annotations

import datetime as dt
from typing import Final, NamedTuple

from edge.rules.cards import CardFacts, CardStatus, ConsumptionMode, in_volume, is_credit
from edge.rules.counters import DayUsage
from edge.rules.decision import CardRequest, Decision, DecisionContext, RuleWarning, WarningKind
from edge.rules.grey import UnlockVerdict, may_unlock
from protocol.i18n import N_
from protocol.reasons import RefusalReason
from protocol.words import centi

__all__ = ["decide"]

_R = RefusalReason

_STATUS_REASON: Final = {
    CardStatus.BLACKLISTED: _R.BLACKLISTED,
    CardStatus.CANCELLED: _R.CARD_CANCELLED,
    CardStatus.REPLACED: _R.CARD_REPLACED,
    CardStatus.DAMAGED: _R.CARD_DAMAGED,
}


class _Refusal(NamedTuple):
    reason: RefusalReason
    detail: str = ""
    """An English template marked `N_` (`"Valid until {date}."`), filled from `facts`."""
    facts: tuple[tuple[str, str], ...] = ()


def _refusal(reason: RefusalReason, detail: str, **facts: object) -> _Refusal:
    return _Refusal(reason, detail, tuple((k, str(v)) for k, v in facts.items()))


class _Budget(NamedTuple):
    remaining: int
    reason: RefusalReason


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _hundredths(value: int) -> str:
    return centi(value)


def _yuan(fen: int) -> str:
    return _hundredths(fen)


def decide(request: CardRequest, context: DecisionContext) -> Decision:
    """Decide whether the card may buy here and now, and on what terms (see the module docstring)."""
    card = request.card
    warnings: list[RuleWarning] = []
    grey_unlock = None
    if card.grey and card.grey_lock is not None:
        grey_unlock = may_unlock(
            card.grey_lock,
            context.here,
            context.now,
            context.calendar,
            context.config,
            clock_trusted=context.clock_trusted,
        )
    # Each check returns None or a _Refusal (a non-empty tuple, so truthy): the first refusal wins.
    refusal = (
        _check_dates(card, context)
        or _check_kind_status_lists(card, context, warnings)
        or (_Refusal(_R.PIN_LOCKED) if card.pin_locked else None)
        or _check_grey(card, grey_unlock, warnings)
        or _check_cng(card, context, warnings)
        or _check_restrictions(request, context, warnings)
    )
    if refusal is not None:
        return _refused(card, refusal, grey_unlock)
    usage = context.counters.usage(card.asn, context.now.date())
    budgets = _check_budgets(request, usage)
    if budgets.refusal is not None:
        return _refused(card, budgets.refusal, grey_unlock)
    mode = card.mode
    level = card.price_level
    unit_price: int | None = None
    if mode is not ConsumptionMode.PREPAID_VOLUME and request.nozzle_prices:
        prices = request.nozzle_prices
        if len(prices) == 1:
            unit_price = prices[0]
        elif 0 <= level < len(prices):
            unit_price = prices[level]
        else:
            return _refused(
                card, _refusal(_R.NO_PRICE_FOR_CARD, N_("Price level {level}."), level=level), grey_unlock
            )
    return Decision(
        allowed=True,
        reason=_R.NONE,
        words=" ".join([_R.NONE.words, *(w.words for w in warnings)]),
        warnings=tuple(warnings),
        card_kind=card.kind,
        consumption_mode=mode,
        price_level=level,
        unit_price=unit_price,
        max_amount=None if budgets.amount is None else budgets.amount.remaining,
        max_volume=None if budgets.volume is None else budgets.volume.remaining,
        grey_unlock=grey_unlock,
    )


def _refused(card: CardFacts, refusal: _Refusal, grey_unlock: UnlockVerdict | None) -> Decision:
    facts = dict(refusal.facts)
    detail = refusal.detail.format(**facts)
    words = refusal.reason.words if not detail else f"{refusal.reason.words} {detail}"
    return Decision(
        allowed=False,
        reason=refusal.reason,
        words=words,
        detail=refusal.detail,
        detail_facts=facts,
        card_kind=card.kind,
        consumption_mode=card.mode,
        price_level=card.price_level,
        grey_unlock=grey_unlock,
    )


def _check_dates(card: CardFacts, context: DecisionContext) -> _Refusal | None:
    today = context.now.date()
    if card.valid_until is not None and card.valid_until < today:
        return _refusal(_R.CARD_EXPIRED, N_("Valid until {date}."), date=card.valid_until.isoformat())
    if card.valid_from is not None and card.valid_from > today:
        return _refusal(_R.CARD_NOT_YET_VALID, N_("Valid from {date}."), date=card.valid_from.isoformat())
    return None


def _check_kind_status_lists(
    card: CardFacts, context: DecisionContext, warnings: list[RuleWarning]
) -> _Refusal | None:
    kind = card.kind
    if kind is None:
        return _refusal(_R.CARD_TYPE_UNKNOWN, N_("Card type code {code}."), code=card.asn[4:6])
    if card.status is CardStatus.LOST:
        grace = context.config.lost_card_grace_working_days
        if grace == 0 or card.status_since is None:
            return _Refusal(_R.CARD_LOST)
        in_force = context.calendar.working_days_end(card.status_since, grace)
        if context.now >= in_force:
            return _Refusal(_R.CARD_LOST)
        warnings.append(
            RuleWarning(
                WarningKind.LOST_CARD_PENDING,
                f"Card was reported lost on {_stamp(card.status_since)}; it stops working on "
                f"{_stamp(in_force)}. Check that the customer is the holder.",
                due=in_force.date(),
            )
        )
    elif card.status is not CardStatus.NORMAL:
        return _Refusal(_STATUS_REASON[card.status])
    here = context.here
    if kind.internal:
        if card.home_station_id is not None and card.home_station_id != here.station_id:
            return _refusal(
                _R.STAFF_CARD_OTHER_STATION, N_("Its station: {station}."), station=card.home_station_id
            )
        if not context.lists.is_whitelisted(card.asn):
            return _Refusal(_R.NOT_WHITELISTED)
        return None
    if context.lists.is_blacklisted(card.asn):
        return _Refusal(_R.BLACKLISTED)
    accepted = context.config.accepted_provinces
    province = card.issuing_province
    if (
        accepted is not None
        and province is not None
        and province != here.province
        and province not in accepted
    ):
        return _refusal(
            _R.PROVINCE_NOT_ACCEPTED, N_("Issuing province code {province}."), province=f"{province:02X}"
        )
    return None


def _check_grey(
    card: CardFacts, verdict: UnlockVerdict | None, warnings: list[RuleWarning]
) -> _Refusal | None:
    if not card.grey:
        return None
    lock = card.grey_lock
    if lock is None or verdict is None:
        return _Refusal(_R.GREY_RECORD_NOT_FOUND)
    if not verdict.allowed:
        if verdict.unlockable_from is not None:
            return _refusal(
                verdict.reason, N_("Can be unlocked here from {at}."), at=_stamp(verdict.unlockable_from)
            )
        return _Refusal(verdict.reason)
    warnings.append(
        RuleWarning(
            WarningKind.GREY_DEBIT_FIRST,
            f"Card was left locked by an unfinished sale on {_stamp(lock.locked_at)}: "
            f"{_yuan(lock.amount_owed)} yuan is taken first.",
            amount=lock.amount_owed,
        )
    )
    return None


def _check_cng(card: CardFacts, context: DecisionContext, warnings: list[RuleWarning]) -> _Refusal | None:
    profile = card.cng
    config = context.config
    if profile is None:
        if config.require_cng_profile and card.kind is not None and not card.kind.internal:
            return _refusal(_R.CYLINDER_NOT_REGISTERED, N_("The card carries no gas vehicle data."))
        return None
    classes = config.accepted_card_classes
    if classes is not None and profile.card_class not in classes:
        return _refusal(
            _R.CARD_CLASS_NOT_ACCEPTED, N_("Card class {card_class}."), card_class=profile.card_class
        )
    valid_until = profile.cylinder_valid_until
    if valid_until is None:
        return _Refusal(_R.CYLINDER_NOT_REGISTERED)
    days_left = (valid_until - context.now.date()).days
    if days_left < 0:
        return _refusal(
            _R.CYLINDER_EXPIRED, N_("Inspection was due on {date}."), date=valid_until.isoformat()
        )
    if days_left <= config.cylinder_alarm_advance_days:
        when = "today" if days_left == 0 else f"in {days_left} day{'s' if days_left > 1 else ''}"
        plate = f" ({profile.plate})" if profile.plate else ""
        warnings.append(
            RuleWarning(
                WarningKind.CYLINDER_DUE,
                f"Vehicle{plate} cylinder inspection is due {when}, on {valid_until.isoformat()}. "
                "Remind the driver.",
                due=valid_until,
                plate=profile.plate or None,
            )
        )
    return None


def _check_restrictions(
    request: CardRequest, context: DecisionContext, warnings: list[RuleWarning]
) -> _Refusal | None:
    limits = request.card.limits
    if limits.fixed_station_id is not None and limits.fixed_station_id != context.here.station_id:
        return _refusal(
            _R.FIXED_STATION_ELSEWHERE, N_("Its station: {station}."), station=limits.fixed_station_id
        )
    product = request.product_code
    if limits.restricted_products and product is not None and product not in limits.restricted_products:
        allowed = ", ".join(sorted(limits.restricted_products))
        return _refusal(_R.RESTRICTED_PRODUCT, N_("Allowed: {products}."), products=allowed)
    plate = limits.restricted_plate
    if plate is not None:
        if request.vehicle_plate is not None:
            if request.vehicle_plate.replace(" ", "").upper() != plate.replace(" ", "").upper():
                return _refusal(_R.RESTRICTED_PLATE, N_("Card is for {plate}."), plate=plate)
        elif context.config.require_plate_match:
            return _refusal(
                _R.RESTRICTED_PLATE, N_("Card is for {plate}; the vehicle plate is not known."), plate=plate
            )
        else:
            warnings.append(
                RuleWarning(
                    WarningKind.CHECK_PLATE,
                    f"Card is only for vehicle {plate}. Check the plate.",
                    plate=plate,
                )
            )
    return None


class _Budgets(NamedTuple):
    """The tightest money and volume budgets of a sale, or the refusal when one is used up."""

    amount: _Budget | None
    volume: _Budget | None
    refusal: _Refusal | None = None


def _check_budgets(request: CardRequest, usage: DayUsage) -> _Budgets:
    card = request.card
    limits = card.limits
    if limits.fills_per_day is not None and usage.fills >= limits.fills_per_day:
        refusal = _refusal(
            _R.FILLS_PER_DAY_REACHED,
            N_("{used} of {limit} used."),
            used=usage.fills,
            limit=limits.fills_per_day,
        )
        return _Budgets(None, None, refusal)
    money = _budgets(
        (limits.per_fill_amount, _R.PER_SALE_CAP),
        (_remaining(limits.amount_per_day, usage.amount), _R.AMOUNT_PER_DAY_REACHED),
    )
    volume = _budgets(
        (limits.per_fill_volume, _R.PER_SALE_CAP),
        (_remaining(limits.volume_per_day, usage.volume), _R.VOLUME_PER_DAY_REACHED),
    )
    on_card = _card_budget(card)
    if on_card is not None:
        (volume if in_volume(card.mode) else money).append(on_card)
    for budget in (*money, *volume):
        if budget.remaining <= 0:
            return _Budgets(None, None, _Refusal(budget.reason))
    # min() keeps the first of equal budgets, so ties go to the rule listed first.
    tight_amount = min(money, key=_by_remaining, default=None)
    tight_volume = min(volume, key=_by_remaining, default=None)
    preset = request.preset_amount
    if preset is not None and tight_amount is not None and preset > tight_amount.remaining:
        detail = N_("At most {amount} yuan for this sale.")
        return _Budgets(
            None, None, _refusal(tight_amount.reason, detail, amount=_yuan(tight_amount.remaining))
        )
    preset = request.preset_volume
    if preset is not None and tight_volume is not None and preset > tight_volume.remaining:
        detail = N_("At most {volume} (volume) for this sale.")
        volume_left = _hundredths(tight_volume.remaining)
        return _Budgets(None, None, _refusal(tight_volume.reason, detail, volume=volume_left))
    return _Budgets(tight_amount, tight_volume)


def _card_budget(card: CardFacts) -> _Budget | None:
    """What the card itself still allows: its prepaid balance, or its credit line minus what it owes."""
    if card.balance is None:
        return None
    if not is_credit(card.mode):
        return _Budget(card.balance, _R.BALANCE_TOO_LOW)
    line = card.cng.credit_line if card.cng is not None else None
    return None if line is None else _Budget(line - card.balance, _R.CREDIT_LINE_EXHAUSTED)


def _by_remaining(budget: _Budget) -> int:
    return budget.remaining


def _remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else limit - used


def _budgets(*pairs: tuple[int | None, RefusalReason]) -> list[_Budget]:
    return [_Budget(remaining, reason) for remaining, reason in pairs if remaining is not None]
