"""Activities at a nozzle (shared by random traffic and scenarios) and the random traffic generator.

Layer: firmware-sim (asyncio). An activity drives one nozzle of one dispenser through the device's
actions, waiting for the device (a card decision, a preset reached) with a short tick. A power cycle
(`Slot.generation` changes) interrupts it: the cards leave the readers and nothing is recorded.

Random traffic: each dispenser starts activities as a Poisson process of `rate` per minute, each on a
free nozzle, of a kind drawn from the mix:

- sale:  a card (user card; a CNG card on m3/kg nozzles) is inserted, decided, the nozzle lifted,
         fuelled to a preset amount, hung up, the card pulled → 0x32 T_TYPE 0x10 (after a T_TYPE 3
         unlock when the card was grey);
- grey:  like sale, but the card is pulled mid-fuelling → T_TYPE 1; the card stays grey and the next
         sale with it asks 0x35 first;
- cash:  nozzle lifted without a card, fuelled, hung up → T_TYPE 7;
- duty:  an employee card at a nozzle: on duty (T_TYPE 5) if nobody is on duty there, else the
         on-duty employee goes off duty (T_TYPE 6);
- error: a 0x3B text error report.

Production stops after `max_records` records or `duration` seconds: no new activity starts (one in
progress completes, so a few more records than `max_records` are possible).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from station_sim.cards import Card, CardKind, CardPool
from station_sim.device import Decision, DeviceError, Session
from station_sim.slot import Slot

log = logging.getLogger(__name__)

TICK_S = 0.02
DECISION_TIMEOUT_S = 30.0
FUEL_TIMEOUT_S = 600.0
SALE_AMOUNT_FEN = (2_000, 30_000)
CASH_AMOUNT_FEN = (5_000, 20_000)
GREY_PULL_FRACTION = (0.2, 0.8)
ERROR_TEXTS = ("E01 pulser fault", "E07 printer paper out", "E12 card reader retry", "E21 valve slow")


class Interrupted(Exception):
    """The dispenser was power-cycled during the activity."""


async def wait_until(slot: Slot, generation: int, predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Wait (ticking the device) until `predicate()`; False after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if slot.generation != generation or not slot.powered:
            raise Interrupted
        slot.dev.advance()
        if predicate():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(TICK_S)


def _session(slot: Slot, nzn: int) -> Session | None:
    return slot.dev.nozzles[nzn].session


async def await_decision(slot: Slot, nzn: int, generation: int) -> bool:
    """Wait for the card decision at `nzn`; True when authorised (False when refused or no answer)."""

    def decided() -> bool:
        s = _session(slot, nzn)
        return s is None or s.decision is not Decision.CHECKING

    await wait_until(slot, generation, decided, DECISION_TIMEOUT_S)
    s = _session(slot, nzn)
    return s is not None and s.decision is Decision.AUTHORISED


async def await_fuelled(slot: Slot, nzn: int, generation: int, fraction: float = 1.0) -> None:
    """Wait until the preset is reached (or `fraction` of the amount preset is dispensed)."""

    def done() -> bool:
        s = _session(slot, nzn)
        if s is None or not s.fuelling:
            return True
        if fraction < 1.0 and s.target_amn is not None:
            return s.amn >= s.target_amn * fraction
        return False

    await wait_until(slot, generation, done, FUEL_TIMEOUT_S)


async def card_sale(
    slot: Slot, nzn: int, card: Card, amount: int, pull_fraction: float | None = None
) -> None:
    """A whole card sale; with `pull_fraction` the card is pulled mid-fuelling (grey record)."""
    gen = slot.generation
    try:
        slot.dev.insert_card(nzn, card)
        if not await await_decision(slot, nzn, gen):
            slot.dev.pull_card(nzn)
            return
        slot.dev.lift(nzn)
        slot.dev.fuel(nzn, amount=amount)
        if pull_fraction is not None:
            await await_fuelled(slot, nzn, gen, pull_fraction)
            slot.dev.pull_card(nzn)
            slot.dev.hang_up(nzn)
            return
        await await_fuelled(slot, nzn, gen)
        slot.dev.hang_up(nzn)
        slot.dev.pull_card(nzn)
    except Interrupted:
        log.info("activity at %s/%d interrupted by a power cycle", slot.dev.line, nzn)
    finally:
        tidy(slot, nzn, gen)


def tidy(slot: Slot, nzn: int, generation: int) -> None:
    """After an activity (or its failure): no card left in the reader, the nozzle hung up."""
    if slot.generation != generation:
        return
    s = _session(slot, nzn)
    try:
        if s is not None and s.card is not None:
            slot.dev.pull_card(nzn)
        s = _session(slot, nzn)
        if s is not None and s.up:
            slot.dev.hang_up(nzn)
    except DeviceError as exc:
        log.warning("tidying %s/%d: %s", slot.dev.line, nzn, exc)


async def cash_sale(slot: Slot, nzn: int, amount: int) -> None:
    gen = slot.generation
    try:
        slot.dev.lift(nzn)
        slot.dev.fuel(nzn, amount=amount)
        await await_fuelled(slot, nzn, gen)
        slot.dev.hang_up(nzn)
    except Interrupted:
        log.info("cash sale at %s/%d interrupted by a power cycle", slot.dev.line, nzn)
    finally:
        tidy(slot, nzn, gen)


async def duty(slot: Slot, nzn: int, card: Card, on: bool) -> None:
    gen = slot.generation
    try:
        if on:
            slot.dev.on_duty(nzn, card)
        else:
            slot.dev.off_duty(nzn, card)

        def settled() -> bool:
            s = _session(slot, nzn)
            return s is None or s.decision is not Decision.CHECKING

        await wait_until(slot, gen, settled, DECISION_TIMEOUT_S)
    except Interrupted:
        log.info("duty change at %s/%d interrupted by a power cycle", slot.dev.line, nzn)
    finally:
        tidy(slot, nzn, gen)


@dataclass(slots=True)
class Production:
    """Counts what was produced and decides when to stop producing."""

    max_records: int | None = None
    deadline: float | None = None
    """Loop time after which no new activity starts."""
    records: int = 0
    in_flight: int = 0
    halted: bool = False
    """Set by `halt()` (SIGUSR1): no new activity starts from now on."""

    def halt(self) -> None:
        self.halted = True

    def stopped(self, now: float) -> bool:
        if self.halted:
            return True
        if self.deadline is not None and now >= self.deadline:
            return True
        return self.max_records is not None and self.records >= self.max_records

    def may_start(self, now: float) -> bool:
        if self.stopped(now):
            return False
        return self.max_records is None or self.records + self.in_flight < self.max_records


class TrafficGenerator:
    """Random activities on every dispenser (see the module docstring)."""

    def __init__(
        self,
        slots: list[Slot],
        pool: CardPool,
        rng: random.Random,
        rate_per_min: float,
        mix: dict[str, float],
        production: Production,
    ) -> None:
        self.slots = slots
        self.pool = pool
        self.rng = rng
        self.rate = rate_per_min
        self.kinds = list(mix)
        self.weights = [mix[k] for k in self.kinds]
        self.production = production

    async def run(self) -> None:
        """Returns once production stopped and every activity finished."""
        if self.rate <= 0:
            return
        async with asyncio.TaskGroup() as tg:
            for slot in self.slots:
                tg.create_task(self._dispenser(slot, tg))

    async def _dispenser(self, slot: Slot, tg: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        mean_s = 60.0 / self.rate
        while True:
            wait = self.rng.expovariate(1.0 / mean_s)
            if self.production.deadline is not None:
                wait = min(wait, max(0.0, self.production.deadline - loop.time()) + 0.001)
            await asyncio.sleep(wait)
            if self.production.stopped(loop.time()):
                return
            if not slot.powered or not self.production.may_start(loop.time()):
                continue
            free = [n for n in slot.dev.nozzles if n not in slot.dev.busy_nozzles()]
            if not free:
                continue
            kind = self.rng.choices(self.kinds, self.weights)[0]
            nzn = self.rng.choice(free)
            self.production.in_flight += 1
            tg.create_task(self._activity(kind, slot, nzn))

    async def _activity(self, kind: str, slot: Slot, nzn: int) -> None:
        try:
            await self._run_activity(kind, slot, nzn)
        except DeviceError as exc:
            log.info("random %s at %s/%d skipped: %s", kind, slot.dev.line, nzn, exc)
        finally:
            self.production.in_flight -= 1

    async def _run_activity(self, kind: str, slot: Slot, nzn: int) -> None:
        rng = self.rng
        dev = slot.dev
        if kind in ("sale", "grey"):
            gas = dev.nozzles[nzn].unit != "L"
            card = self.pool.draw(rng, frozenset({CardKind.CNG if gas else CardKind.USER}))
            if card is None:
                return
            amount = rng.randint(*SALE_AMOUNT_FEN) // 100 * 100
            fraction = rng.uniform(*GREY_PULL_FRACTION) if kind == "grey" else None
            await card_sale(slot, nzn, card, amount, fraction)
        elif kind == "cash":
            await cash_sale(slot, nzn, rng.randint(*CASH_AMOUNT_FEN) // 100 * 100)
        elif kind == "duty":
            emp = dev.nozzles[nzn].emp
            if emp == 255:
                card = self.pool.draw(rng, frozenset({CardKind.EMPLOYEE}))
                on = True
            else:
                card = self.pool.employee_by_emp(emp)
                on = False
            if card is None or card.in_use:
                return
            await duty(slot, nzn, card, on)
        elif kind == "error":
            dev.error_info(rng.choice(ERROR_TEXTS))
