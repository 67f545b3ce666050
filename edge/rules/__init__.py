"""The local card rules: what a station decides for every card with no centre reachable.

Layer: edge (pure rules core). No I/O, no asyncio: the clock (naive station-local time), the working-day
calendar, the lists and the daily counters are injected through `DecisionContext`, so every decision is a
pure function of its inputs and is tested from tables.

    decide(CardRequest(card=CardFacts(...)), DecisionContext(now, here, lists, calendar, counters, config))
        -> Decision(allowed, reason, words, warnings, price_level, unit_price, max_amount, ...)

Modules, one idea each: `asn` (what the card number says), `cards` (card facts), `calendar` (working days
and delays), `config` (settings), `place`, `lists` (the list view protocol), `counters` (daily counters),
`grey` (may a grey card be unlocked here and now), `decision` (request, context, answer), `decide` (the
rules in spec §4 order), `wire` (the dispenser's CNG profile as card facts). Reason codes and their
attendant words are in `protocol.reasons`.
"""

from edge.rules.asn import CardKind, card_kind_from_asn, check_asn, province_from_asn
from edge.rules.calendar import GreyDelayMode, WorkingCalendar
from edge.rules.cards import (
    NO_LIMITS,
    CardFacts,
    CardLimits,
    CardStatus,
    CngProfile,
    ConsumptionMode,
    in_volume,
    is_credit,
)
from edge.rules.config import RulesConfig
from edge.rules.counters import ZERO_USAGE, CounterView, DailyCounters, DayUsage, add_sale
from edge.rules.decide import decide
from edge.rules.decision import CardRequest, Decision, DecisionContext, RuleWarning, WarningKind
from edge.rules.errors import BadCardNumber, BadClock, BadCounters, BadRulesConfig, RulesError
from edge.rules.grey import GreyLock, UnlockRule, UnlockVerdict, may_unlock
from edge.rules.lists import InMemoryLists, ListView
from edge.rules.place import Place
from edge.rules.wire import from_wire_profile

__all__ = [
    "NO_LIMITS",
    "ZERO_USAGE",
    "BadCardNumber",
    "BadClock",
    "BadCounters",
    "BadRulesConfig",
    "CardFacts",
    "CardKind",
    "CardLimits",
    "CardRequest",
    "CardStatus",
    "CngProfile",
    "ConsumptionMode",
    "CounterView",
    "DailyCounters",
    "DayUsage",
    "Decision",
    "DecisionContext",
    "GreyDelayMode",
    "GreyLock",
    "InMemoryLists",
    "ListView",
    "Place",
    "RuleWarning",
    "RulesConfig",
    "RulesError",
    "UnlockRule",
    "UnlockVerdict",
    "WarningKind",
    "WorkingCalendar",
    "add_sale",
    "card_kind_from_asn",
    "check_asn",
    "decide",
    "from_wire_profile",
    "in_volume",
    "is_credit",
    "may_unlock",
    "province_from_asn",
]
