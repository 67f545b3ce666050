"""Benchmark: the local card rules — latency of one full `decide()` over a realistic card mix.

Run: `uv run python -m bench.decide --json`. Target: p99 < 100 µs per decision, so that the rules are
invisible next to the 0x36 answer budget (2 s point-to-point, ~150 ms multi-drop at 9600 baud) and next
to the blacklist lookup itself (p99 < 50 µs, docs/design.md).

- builds a blacklist of `list_entries` (1 000 000) user cards as one sorted blob of 10-byte packed BCD
  numbers searched by bisection, the layout of the real store, plus a 200-card white list;
- builds a mix of `MIX` distinct card requests: plain purse cards, blacklisted cards, CNG cards of
  every consumption mode (cylinder valid, due soon, expired, missing), cards with daily limits (with
  today's counters), grey cards (same dispenser, same station, other station, other province, no
  record), lost cards in and past their grace, staff cards, plate- and product-restricted cards;
- times `decide()` one call at a time with `perf_counter_ns` over ≥ 100 000 decisions, the clock moving
  on through a working week and its weekend (so calendar and counter look-ups vary), and checks that
  the mix really produced both answers.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import datetime as dt
import json
import random
import time
from typing import Any, Final

from edge.rules import (
    CardFacts,
    CardLimits,
    CardRequest,
    CardStatus,
    CngProfile,
    ConsumptionMode,
    DailyCounters,
    DecisionContext,
    GreyLock,
    Place,
    RulesConfig,
    WorkingCalendar,
    decide,
)

DECISIONS: Final = 100_000
LIST_ENTRIES: Final = 1_000_000
MIX: Final = 2_000
TARGET_P99_US: Final = 100.0
ASN_BYTES: Final = 10
START: Final = dt.datetime(2024, 9, 25, 6, 0)  # a Wednesday before the National Day week
STEP: Final = dt.timedelta(seconds=5)
HERE: Final = Place("00000001", 1, 0x11)
NATIONAL_DAY_2024: Final = WorkingCalendar(
    holidays=frozenset(dt.date(2024, 10, day) for day in range(1, 8)),
    shifted_working_days=frozenset({dt.date(2024, 9, 29), dt.date(2024, 10, 12)}),
)


def _asn(kind: str, province: int, serial: int) -> str:
    return f"1000{kind}0{province:02X}{serial:011d}"


class SortedBlobLists:
    """A `ListView` laid out like the real store: sorted 10-byte packed ASNs in one `bytes`."""

    __slots__ = ("_black", "_count", "_white")

    def __init__(self, blacklist: list[int], whitelist: set[str]) -> None:
        blacklist.sort()
        self._black = b"".join(n.to_bytes(ASN_BYTES, "big") for n in blacklist)
        self._count = len(blacklist)
        self._white = frozenset(whitelist)

    def _key(self, i: int) -> bytes:
        return self._black[i * ASN_BYTES : (i + 1) * ASN_BYTES]

    def is_blacklisted(self, asn: str) -> bool:
        if len(asn) != 2 * ASN_BYTES:
            return False
        key = bytes.fromhex(asn)
        i = bisect.bisect_left(range(self._count), key, key=self._key)
        return i < self._count and self._key(i) == key

    def is_whitelisted(self, asn: str) -> bool:
        return asn in self._white


def _bcd_int(asn: str) -> int:
    return int.from_bytes(bytes.fromhex(asn), "big")


def _build_lists(entries: int, rng: random.Random) -> tuple[SortedBlobLists, list[str]]:
    serials = rng.sample(range(10**10), entries)
    numbers = [_bcd_int(_asn("01", 0x11, s)) for s in serials]
    listed = [_asn("01", 0x11, s) for s in serials[:500]]
    staff = {_asn("04", 0x11, s) for s in range(200)}
    return SortedBlobLists(numbers, staff), listed


def _mix(rng: random.Random, blacklisted: list[str]) -> tuple[list[CardRequest], DailyCounters]:
    modes = list(ConsumptionMode)
    counters = DailyCounters(START.date())
    requests: list[CardRequest] = []
    for i in range(MIX):
        number = _asn("01", rng.choice((0x11, 0x11, 0x11, 0x32)), 10**10 + i)
        kind = i % 12
        card: CardFacts
        prices: tuple[int, ...] = (450, 430, 410)
        if kind == 0:
            card = CardFacts(rng.choice(blacklisted), balance=rng.randrange(100_000))
        elif kind == 1:
            card = CardFacts(_asn("04", 0x11, rng.randrange(220)))
        elif kind in (2, 3, 4, 5):
            due = START.date() + dt.timedelta(days=rng.randrange(-20, 400))
            profile = CngProfile(
                card_class=rng.randrange(5),
                mode=rng.choice(modes),
                price_level=rng.randrange(3),
                cylinder_valid_until=None if rng.random() < 0.05 else due,
                plate=f"京A{i:05d}",
                credit_line=rng.choice((None, 500_000)),
            )
            limits = CardLimits(
                per_fill_amount=rng.choice((None, 30_000)),
                fills_per_day=rng.choice((None, 2, 3)),
                amount_per_day=rng.choice((None, 60_000)),
                restricted_plate=rng.choice((None, f"京A{i:05d}")),
            )
            card = CardFacts(number, balance=rng.randrange(200_000), cng=profile, limits=limits)
            for _ in range(rng.randrange(3)):
                counters = counters.with_sale(
                    number, START, rng.randrange(1, 20_000), rng.randrange(1, 2_000)
                )
        elif kind == 6:
            where = rng.choice(
                (HERE, Place("00000001", 2, 0x11), Place("00000002", 1, 0x11), Place("00000032", 1, 0x32))
            )
            locked = START - dt.timedelta(hours=rng.randrange(1, 120))
            lock = None if rng.random() < 0.1 else GreyLock(number, locked, where, rng.randrange(1, 50_000))
            card = CardFacts(number, grey=True, grey_lock=lock, balance=rng.randrange(100_000))
        elif kind == 7:
            since = START - dt.timedelta(hours=rng.randrange(1, 120))
            card = CardFacts(number, status=CardStatus.LOST, status_since=since)
        elif kind == 8:
            card = CardFacts(
                number,
                limits=CardLimits(restricted_products=frozenset({"0301"}), fixed_station_id="00000001"),
            )
        else:
            card = CardFacts(
                number,
                balance=rng.randrange(100_000),
                valid_until=START.date() + dt.timedelta(days=rng.randrange(-5, 700)),
            )
        requests.append(
            CardRequest(
                card,
                product_code=rng.choice((None, "0301", "0102")),
                nozzle_prices=prices,
                preset_amount=rng.choice((None, 10_000, 50_000)),
            )
        )
    rng.shuffle(requests)
    return requests, counters


def _percentile_us(sorted_ns: list[int], fraction: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(fraction * len(sorted_ns)))] / 1000


def run(
    json_out: bool = False,
    decisions: int = DECISIONS,
    list_entries: int = LIST_ENTRIES,
    seed: int = 1,
) -> dict[str, Any]:
    rng = random.Random(seed)
    started = time.perf_counter()
    lists, blacklisted = _build_lists(list_entries, rng)
    build_s = time.perf_counter() - started
    requests, counters = _mix(rng, blacklisted)
    base = DecisionContext(START, HERE, lists, NATIONAL_DAY_2024, counters, RulesConfig())

    clock = time.perf_counter_ns
    timings: list[int] = []
    allowed = 0
    now = START
    for i in range(decisions):
        context = dataclasses.replace(base, now=now)
        request = requests[i % len(requests)]
        t0 = clock()
        decision = decide(request, context)
        timings.append(clock() - t0)
        allowed += decision.allowed
        now += STEP
    if not 0 < allowed < decisions:
        raise AssertionError(f"the card mix gave {allowed} allowed of {decisions}: not a mix")
    total_s = sum(timings) / 1e9
    timings.sort()
    p50, p99 = _percentile_us(timings, 0.50), _percentile_us(timings, 0.99)
    result: dict[str, Any] = {
        "name": "decide",
        "value": round(p99, 2),
        "unit": "us",
        "target": TARGET_P99_US,
        "p50_us": round(p50, 2),
        "p99_us": round(p99, 2),
        "max_us": round(timings[-1] / 1000, 2),
        "decisions_per_s": round(decisions / total_s),
        "decisions": decisions,
        "allowed_share": round(allowed / decisions, 3),
        "list_entries": list_entries,
        "list_build_s": round(build_s, 2),
    }
    print(
        f"decide: {decisions} decisions over {len(requests)} mixed cards, blacklist of {list_entries};"
        f" p50 {result['p50_us']} µs p99 {result['p99_us']} µs (target < {TARGET_P99_US:g});"
        f" {result['decisions_per_s']} decisions/s; {result['allowed_share']:.0%} allowed"
    )
    if json_out:
        print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.decide", description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=DECISIONS)
    parser.add_argument("--entries", type=int, default=LIST_ENTRIES, help="blacklist size")
    parser.add_argument("--json", action="store_true", help="print a final JSON line")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    run(args.json, decisions=args.decisions, list_entries=args.entries, seed=args.seed)


if __name__ == "__main__":
    main()
