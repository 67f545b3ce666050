"""Price tables in force, the scheduled price change, and the dispensers' receipts.

Layer: edge (controller logic over `storage.prices`; asyncio only in `run`). Until a table is imported
the configuration's product prices are version 1 (`CONFIG_PRICE_VERSION`). Imported tables are kept in
version order; the table **in force** at a moment is the newest one whose effective time has come.

    import v7 (effective 06:00) ──▶ stored, nothing advertised yet
    06:00  step(): v7 in force ──▶ PRC_VER 7 in every 0x30 reply, activated_at stored
           dispensers notice after 5 polls, download CONTENT 4:
               VER 7 | EFFECTIVE 06:00 | N | current = the prices before v7 | new = v7's prices
           each sends a T_TYPE 8 receipt (CTC = VER) ──▶ price_receipts; its alarm cleared
    06:00 + price_receipt_timeout_s: a dispenser without a receipt ──▶ alarm price_receipt_missing
                                                                       (source line/POS-P)

A nozzle a table does not price keeps the prices it had (`storage.prices.resolve_tables`). The clock is
injected (naive station local time); `step(now)` does everything due at `now` and returns how long to
wait for the next thing, so tests drive it without sleeping; `run` is the daemon task around it.
While the wall clock is in doubt (`edge.clock_guard`) no table switches: the one last activated stays in
force until the clock is trusted again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from edge.config import Config
from edge.core.alarms import AlarmSink
from protocol.downloads import PriceRecord, PriceTable
from protocol.record import TransactionRecord, TxKind
from storage.pricefile import PriceFileError
from storage.prices import CONFIG_PRICE_VERSION, PriceSchedule, PriceStore, resolve_tables

__all__ = [
    "CONFIG_EFFECTIVE",
    "RECEIPT_ALARM",
    "PriceScheduler",
    "config_records",
]

log = logging.getLogger(__name__)

RECEIPT_ALARM: Final = "price_receipt_missing"
MAX_SLEEP_S: Final = 30.0
"""The task re-checks at least this often (the wall clock may be set while it waits)."""
HELD_RECHECK_S = 1.0
"""While the wall clock is in doubt (`edge.clock_guard`) nothing switches; re-checked this often."""
CONFIG_EFFECTIVE: Final = dt.datetime(2000, 1, 1)
"""EFFECTIVE of the configuration's table: fixed, so its bytes never change under one version."""
DEFAULT_DENSITY: Final = 0


def config_records(config: Config) -> dict[int, PriceRecord]:
    """Every nozzle of the station with its product's configured price levels ((0,) when none)."""
    out: dict[int, PriceRecord] = {}
    for line in config.lines:
        for disp in line.dispensers:
            for nozzle in disp.nozzles:
                product = config.product(nozzle.g_code)
                prices = product.prices if product and product.prices else (0,)
                out[nozzle.nzn] = PriceRecord(nozzle.nzn, nozzle.g_code, DEFAULT_DENSITY, tuple(prices))
    return out


@dataclass(frozen=True, slots=True)
class _InForce:
    version: int
    table: PriceTable
    records: dict[int, PriceRecord]
    schedule: PriceSchedule | None


class PriceScheduler:
    """Which price table is advertised, when the next one takes over, and who confirmed it."""

    def __init__(
        self,
        store: PriceStore,
        config: Config,
        *,
        alarms: AlarmSink | None = None,
        receipt_timeout_s: float = 900.0,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        clock_trusted: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self._trusted = clock_trusted
        self._held_logged = False
        self.config = config
        self.alarms = alarms
        self.receipt_timeout = dt.timedelta(seconds=receipt_timeout_s)
        self._clock = clock
        self._base = config_records(config)
        self._nozzles = sorted((nzn, rec.g_code) for nzn, rec in self._base.items())
        self.dispensers: tuple[tuple[str, int], ...] = tuple(
            (line.name, d.pos_p) for line in config.lines for d in line.dispensers
        )
        self._schedules: list[PriceSchedule] = []
        self._built: list[PriceTable] = []
        base = tuple(self._base[nzn] for nzn, _ in self._nozzles)
        self._config_table = PriceTable(CONFIG_PRICE_VERSION, CONFIG_EFFECTIVE, base, base)
        self._in_force = _InForce(CONFIG_PRICE_VERSION, self._config_table, dict(self._base), None)
        self._receipts: set[tuple[str, int]] = set()
        self._alarmed: set[tuple[str, int]] = set()
        self._wake = asyncio.Event()

    # --- state ------------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now.astimezone().replace(tzinfo=None) if now.tzinfo is not None else now

    async def load(self) -> None:
        """Read the stored tables (at start-up); call `step` next."""
        self._set_schedules(await self.store.tables())

    def _set_schedules(self, schedules: Sequence[PriceSchedule]) -> None:
        self._schedules = sorted(schedules, key=lambda s: s.version)
        resolved = resolve_tables(self._schedules, self._nozzles, self._base)
        before = [tuple(self._base[nzn] for nzn, _ in self._nozzles), *resolved]
        self._built = [
            PriceTable(s.wire_version, s.effective, before[i], before[i + 1])
            for i, s in enumerate(self._schedules)
        ]

    @property
    def schedules(self) -> tuple[PriceSchedule, ...]:
        return tuple(self._schedules)

    @property
    def version(self) -> int:
        """The version in force (full number; the wire carries its low byte)."""
        return self._in_force.version

    def advertised(self) -> PriceTable:
        """The table of CONTENT 4 and PRC_VER of the 0x30 reply (the catalog's price source)."""
        return self._in_force.table

    def nozzle_record(self, nzn: int) -> PriceRecord | None:
        """The prices in force at a nozzle (for the rules' price level check)."""
        return self._in_force.records.get(nzn)

    def pending(self) -> list[PriceSchedule]:
        """Tables stored but not in force yet (effective later, or a newer one is due)."""
        return [s for s in self._schedules if s.version > self._in_force.version]

    def receipts_missing(self) -> list[tuple[str, int]]:
        return [d for d in self.dispensers if d not in self._receipts]

    # --- changes ----------------------------------------------------------------------------------

    def check(self, schedule: PriceSchedule) -> None:
        """Refuse a table naming products or nozzles the station does not have (`PriceFileError`)."""
        codes = {g for _, g in self._nozzles} | {p.g_code for p in self.config.products}
        problems = [
            f"products: product {p.g_code} is not in the station's [[products]]"
            for p in schedule.products
            if p.g_code not in codes
        ]
        problems += [
            f"nozzles: nozzle {n.nzn} is not in the station's configuration"
            for n in schedule.nozzles
            if n.nzn not in self._base
        ]
        if problems:
            raise PriceFileError([f"{schedule.source or 'price table'}: {p}" for p in problems])

    async def add(self, schedule: PriceSchedule) -> PriceSchedule:
        """Store a new table (`PriceVersionError`, `PriceFileError` when refused) and reschedule."""
        self.check(schedule)
        stored = await self.store.add(schedule)
        self._set_schedules([*self._schedules, stored])
        log.info(
            "prices: version %d stored, effective %s",
            stored.version,
            stored.effective.isoformat(timespec="minutes"),
        )
        self._wake.set()
        return stored

    async def step(self, now: dt.datetime | None = None) -> float:
        """Do what is due at `now`: switch the table in force, raise missing-receipt alarms. Returns the
        seconds until something is due next (at most `MAX_SLEEP_S`)."""
        now = self._now() if now is None else now
        if not self._trusted():
            # A stepped wall clock would switch a table early, or back to an older one: hold the one in force.
            activated = [i for i, sch in enumerate(self._schedules) if sch.activated_at is not None]
            if activated and self._schedules[activated[-1]].version != self._in_force.version:
                await self._activate(activated[-1], now)  # at start: the table that was in force stays
            if not self._held_logged:
                log.warning("prices: version %d held: the wall clock is in doubt", self._in_force.version)
                self._held_logged = True
            return HELD_RECHECK_S
        self._held_logged = False
        index = None
        for i, schedule in enumerate(self._schedules):
            if schedule.effective <= now:
                index = i
        if index is not None and self._schedules[index].version != self._in_force.version:
            await self._activate(index, now)
        waits = [MAX_SLEEP_S]
        upcoming = [s.effective for s in self._schedules if s.effective > now]
        if upcoming:
            waits.append((min(upcoming) - now).total_seconds())
        deadline = self._deadline()
        if deadline is not None:
            if now >= deadline:
                await self._alarm_missing()
            else:
                waits.append((deadline - now).total_seconds())
        return max(0.0, min(waits))

    async def _activate(self, index: int, now: dt.datetime) -> None:
        schedule = self._schedules[index]
        records = {r.nzn: r for r in self._built[index].new}
        activated = schedule.activated_at
        if activated is None:
            await self.store.mark_activated(schedule.version, now)
            activated = now
            self._schedules[index] = _with_activation(schedule, now)
            schedule = self._schedules[index]
        self._in_force = _InForce(schedule.version, self._built[index], records, schedule)
        self._receipts = {
            (r.line, r.dispenser)
            for r in await self.store.receipts(schedule.wire_version)
            if _local(r.received_at) >= _local(activated)
        }
        self._alarmed = set()
        log.info(
            "prices: version %d in force (PRC_VER %d), effective %s; %d of %d dispensers confirmed",
            schedule.version,
            schedule.wire_version,
            schedule.effective.isoformat(timespec="minutes"),
            len(self._receipts),
            len(self.dispensers),
        )

    def _deadline(self) -> dt.datetime | None:
        schedule = self._in_force.schedule
        if schedule is None or schedule.activated_at is None:
            return None
        if not self.receipts_missing():
            return None
        return _local(schedule.activated_at) + self.receipt_timeout

    async def _alarm_missing(self) -> None:
        schedule = self._in_force.schedule
        if schedule is None or self.alarms is None:
            return
        for line, pos_p in self.receipts_missing():
            if (line, pos_p) in self._alarmed:
                continue
            self._alarmed.add((line, pos_p))
            text = (
                f"Dispenser {pos_p} on line {line} has not confirmed price table version {schedule.version} "
                f"(in force since {schedule.effective:%Y-%m-%d %H:%M}): its prices may be old"
            )
            log.warning("%s", text)
            await self.alarms.raise_alarm(
                f"{line}/{pos_p}",
                RECEIPT_ALARM,
                "major",
                text,
                {"version": schedule.version, "wire_version": schedule.wire_version},
            )

    async def on_record(self, line: str, dispenser: int, record: TransactionRecord, result: Any) -> None:
        """The session's record hook: a T_TYPE 8 record confirms the table whose VER is in its CTC."""
        if record.kind is not TxKind.PRICE_RECEIPT:
            return
        version = record.ctc & 0xFF
        time = record.time if isinstance(record.time, dt.datetime) else None
        await self.store.add_receipt(line, dispenser, version, record.pos_ttc, time)
        if version != self._in_force.table.version:
            log.info("prices: %s/%d confirmed PRC_VER %d, not the one in force", line, dispenser, version)
            return
        self._receipts.add((line, dispenser))
        log.info("prices: %s/%d confirmed version %d", line, dispenser, self._in_force.version)
        if self.alarms is not None and (line, dispenser) in self._alarmed:
            await self.alarms.clear(f"{line}/{dispenser}", RECEIPT_ALARM)
            self._alarmed.discard((line, dispenser))

    async def run(self) -> None:
        """The daemon task: `step` whenever something is due or a table was added."""
        while True:
            delay = await self.step()
            self._wake.clear()
            try:
                async with asyncio.timeout(delay if delay > 0 else 0.001):
                    await self._wake.wait()
            except TimeoutError:
                pass


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo is not None else moment


def _with_activation(schedule: PriceSchedule, at: dt.datetime) -> PriceSchedule:
    return PriceSchedule(
        schedule.version,
        schedule.effective,
        schedule.products,
        schedule.nozzles,
        schedule.source,
        schedule.imported_at,
        activated_at=at,
    )
