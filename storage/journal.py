"""The transaction journal: records, their gaps, nozzle totals and dispenser information.

Layer: storage. The contract with the line driver is **persist, then acknowledge**:

    0x32 P record ──▶ await journal.store_record(...) ──▶ (committed, fsync'ed) ──▶ 0x32 H ack
                                   │
                                   └─ then, off the ack path: await journal.note_gaps(...)

`store_record` is idempotent on (line, dispenser, POS_TTC), in one transaction:

    no row with that key                 → insert                         NEW
    a row (original or copy), same raw   → nothing                        DUPLICATE
    a row whose raw_sum is this record's → its damaged bytes replaced by  REPAIRED
                                           these (storage.integrity), the
                                           record_damaged alarm cleared
    rows, none with the same raw         → insert with conflict_of = the  CONFLICT
                                           original's id, and raise the
                                           alarm (<line>/<dispenser>,
                                           record_conflict) in the same
                                           transaction
Every row stores `raw_sum`, the checksum of its key and raw bytes (`storage.integrity`). The original
is never overwritten (spec B8) — except to give a damaged row back the very bytes its checksum names;
a given conflicting byte string is stored once. For NEW,
an open or absent gap row for the key is marked filled. Outbox rows go in the same transaction, only
for NEW and CONFLICT. A record with a T_MAC error is stored with `tmac_error = 1` (spec B9).

Gaps: POS_TTC grows by one per record per dispenser. `note_gaps` compares a stored record's POS_TTC
with the highest other POS_TTC of that dispenser and records the numbers in between as 'open' gaps,
which the driver asks for with 0x3E (`open_gaps`, `gap_attempt`); a 0x3F answer marks a gap
'absent'; the record arriving marks it 'filled'. At first contact (nothing stored for the dispenser)
no gaps are created; a jump of more than `max_gap_jump` numbers (dispenser replaced or reset) creates
none either, but raises the alarm (<line>/<dispenser>, pos_ttc_jump) and logs a warning.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from protocol.messages import DispenserInfo, NozzleTotal, Totals
from protocol.record import RECORD_LEN, TransactionRecord
from storage.alarms import Severity, clear_in, raise_in
from storage.clock import Clock, iso_instant, iso_local, parse_instant, utc_now
from storage.db import Database, Tx
from storage.errors import InvalidRecordError
from storage.integrity import DAMAGED_ALARM_CODE, check_row, damaged_alarm_source, derived_columns, record_sum
from storage.outbox import OutboxMessage, enqueue_in

log = logging.getLogger(__name__)

MAX_GAP_JUMP = 1000
"""Default bound on the gaps one record may open; a larger jump opens none and raises an alarm."""
CONFLICT_ALARM_CODE = "record_conflict"
JUMP_ALARM_CODE = "pos_ttc_jump"


def alarm_source(line: str, dispenser: int) -> str:
    """The alarm source the journal uses for one dispenser."""
    return f"{line}/{dispenser}"


class StoreOutcome(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REPAIRED = "repaired"
    """A row whose stored bytes were damaged got them back: the re-sent record matches its checksum."""


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What `store_record` did. `row_id`: the row inserted (NEW, CONFLICT) or found identical
    (DUPLICATE); `original_id`: the key's original row; `alarm_id`: the conflict alarm (CONFLICT)."""

    outcome: StoreOutcome
    row_id: int
    original_id: int
    alarm_id: int | None = None


OutboxSpec = Sequence[OutboxMessage] | Callable[[StoreResult], Sequence[OutboxMessage]]
"""Messages to queue with a NEW/CONFLICT record: a list, or a function of the result (it runs inside
the transaction, so it must be quick and must not touch the database)."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A journal row as stored: the raw 95 bytes are the truth (decode them with `protocol.codec`)."""

    id: int
    line: str
    dispenser: int
    pos_ttc: int
    raw: bytes
    received_at: dt.datetime
    tmac_error: bool
    conflict_of: int | None
    damage: tuple[str, ...] = ()
    """Why the row's stored bytes cannot be trusted (`storage.integrity.check_row`); () when sound."""


@dataclass(frozen=True, slots=True)
class TotalsReading:
    """The nozzle totals of one 0x38 read and when it was taken."""

    read_at: dt.datetime
    totals: Totals


_INSERT_RECORD = """
INSERT INTO transactions (
    line, dispenser, pos_ttc, t_type, kind, time, event_time, asn, bal, amn, ctc, ds, unit, nzn, g_code,
    vol, prc, emp, v_tot, t_mac, raw, received_at, tmac_error, conflict_of, raw_sum
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id
"""

_INSERT_INFO = """
INSERT INTO dispenser_info (
    line, dispenser, m_info, prov, city, superior, s_id, time, nozzles, bl_ver, add_bl_ver, del_bl_ver,
    wh_ver, prc_ver, sta_ver, m_data, info, read_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (line, dispenser) DO UPDATE SET
    m_info = excluded.m_info, prov = excluded.prov, city = excluded.city, superior = excluded.superior,
    s_id = excluded.s_id, time = excluded.time, nozzles = excluded.nozzles, bl_ver = excluded.bl_ver,
    add_bl_ver = excluded.add_bl_ver, del_bl_ver = excluded.del_bl_ver, wh_ver = excluded.wh_ver,
    prc_ver = excluded.prc_ver, sta_ver = excluded.sta_ver, m_data = excluded.m_data, info = excluded.info,
    read_at = excluded.read_at
"""


def _stored(row: Any) -> StoredRecord:
    damaged = check_row(row)
    if damaged is not None:
        log.error("%s", damaged.message())
    return StoredRecord(
        id=int(row["id"]),
        line=row["line"],
        dispenser=int(row["dispenser"]),
        pos_ttc=int(row["pos_ttc"]),
        raw=bytes(row["raw"]),
        received_at=parse_instant(row["received_at"]),
        tmac_error=bool(row["tmac_error"]),
        conflict_of=row["conflict_of"],
        damage=() if damaged is None else damaged.problems,
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.datetime):
        return iso_local(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class Journal:
    """Records, gaps, totals and dispenser information of every line, on one `Database`."""

    def __init__(self, db: Database, *, clock: Clock = utc_now, max_gap_jump: int = MAX_GAP_JUMP) -> None:
        self._db = db
        self._clock = clock
        self._max_gap_jump = max_gap_jump

    # --- records ------------------------------------------------------------------------------

    async def store_record(
        self,
        line: str,
        dispenser: int,
        record: TransactionRecord,
        raw: bytes,
        *,
        received_at: dt.datetime,
        tmac_error: bool = False,
        outbox: OutboxSpec = (),
    ) -> StoreResult:
        """Store one 0x32 record durably (committed when this returns); see the module docstring."""
        if len(raw) != RECORD_LEN:
            raise InvalidRecordError(f"a record is {RECORD_LEN} bytes, got {len(raw)}", raw)
        if int.from_bytes(raw[:4], "big") != record.pos_ttc:
            raise InvalidRecordError(f"raw bytes do not carry POS_TTC {record.pos_ttc}", raw)
        key = (line, dispenser, record.pos_ttc)
        time_text = iso_local(record.time) if isinstance(record.time, dt.datetime) else None
        now = self._clock()
        raw_sum = record_sum(line, dispenser, record.pos_ttc, raw)
        async with self._db.transaction() as tx:
            rows = await tx.execute(
                "SELECT id, raw, raw_sum FROM transactions WHERE line = ? AND dispenser = ? AND pos_ttc = ? "
                "ORDER BY id",
                key,
            )
            for row in rows:
                if row["raw"] == raw:
                    return StoreResult(StoreOutcome.DUPLICATE, int(row["id"]), int(rows[0]["id"]))
            for row in rows:
                if row["raw_sum"] == raw_sum:  # its bytes were damaged on disk; these are its true ones
                    await self._repair_in(tx, line, dispenser, int(row["id"]), record, raw, now)
                    return StoreResult(StoreOutcome.REPAIRED, int(row["id"]), int(rows[0]["id"]))
            original_id = int(rows[0]["id"]) if rows else None
            inserted = await tx.one(
                _INSERT_RECORD,
                (
                    *key,
                    record.t_type,
                    record.t_type & 0x0F,
                    time_text,
                    time_text if time_text is not None else iso_local(received_at),
                    record.asn,
                    record.bal,
                    record.amn,
                    record.ctc,
                    record.ds,
                    record.unit,
                    record.nzn,
                    record.g_code,
                    record.vol,
                    record.prc,
                    record.emp,
                    record.v_tot,
                    record.t_mac,
                    raw,
                    iso_instant(received_at),
                    int(tmac_error),
                    original_id,
                    raw_sum,
                ),
            )
            row_id = int(inserted[0])
            if original_id is None:
                result = StoreResult(StoreOutcome.NEW, row_id, row_id)
                await tx.execute(
                    "UPDATE record_gaps SET state = 'filled', resolved_at = ? "
                    "WHERE line = ? AND dispenser = ? AND pos_ttc = ? AND state <> 'filled'",
                    (iso_instant(now), *key),
                )
            else:
                log.warning(
                    "record %s/%s POS_TTC %s re-sent with different bytes: kept as row %s beside row %s",
                    line,
                    dispenser,
                    record.pos_ttc,
                    row_id,
                    original_id,
                )
                alarm_id = await raise_in(
                    tx,
                    alarm_source(line, dispenser),
                    CONFLICT_ALARM_CODE,
                    Severity.CRITICAL,
                    f"dispenser {dispenser} on {line} re-sent POS_TTC {record.pos_ttc} with different content",
                    {"pos_ttc": record.pos_ttc, "original_id": original_id, "conflict_id": row_id},
                    now=now,
                )
                result = StoreResult(StoreOutcome.CONFLICT, row_id, original_id, alarm_id)
            messages = outbox(result) if callable(outbox) else outbox
            await enqueue_in(tx, messages, now=now)
        return result

    @staticmethod
    async def _repair_in(
        tx: Tx,
        line: str,
        dispenser: int,
        row_id: int,
        record: TransactionRecord,
        raw: bytes,
        now: dt.datetime,
    ) -> None:
        """Put a damaged row's true bytes (proved by its checksum) back, with the columns derived from them."""
        columns = derived_columns(record)
        assignments = ", ".join(f"{name} = :{name}" for name in columns)
        await tx.execute(
            f"UPDATE transactions SET raw = :raw, {assignments} WHERE id = :id",
            {**columns, "raw": raw, "id": row_id},
        )
        await clear_in(tx, damaged_alarm_source(line, dispenser, record.pos_ttc), DAMAGED_ALARM_CODE, now=now)
        log.warning(
            "record %s/%s POS_TTC %s (row %s) repaired: the dispenser re-sent the bytes its checksum names",
            line,
            dispenser,
            record.pos_ttc,
            row_id,
        )

    async def records(self, line: str, dispenser: int, pos_ttc: int) -> list[StoredRecord]:
        """Every row stored under a key: the original first, then conflict copies in arrival order."""
        rows = await self._db.fetchall(
            "SELECT * FROM transactions WHERE line = ? AND dispenser = ? AND pos_ttc = ? ORDER BY id",
            (line, dispenser, pos_ttc),
        )
        return [_stored(r) for r in rows]

    async def find_grey(
        self, asn: str, bal: int, ctc: int, ds: int, time: dt.datetime
    ) -> StoredRecord | None:
        """The grey record (T_TYPE low nibble 1) matching a 0x35 query, original rows first; a row whose
        stored bytes are damaged is never used (a debit must not come from changed bytes)."""
        rows = await self._db.fetchall(
            "SELECT * FROM transactions WHERE kind = 1 AND asn = ? AND ctc = ? AND bal = ? AND ds = ? "
            "AND time = ? ORDER BY conflict_of IS NOT NULL, id LIMIT 8",
            (asn, ctc, bal, ds, iso_local(time)),
        )
        for row in rows:
            stored = _stored(row)
            if not stored.damage:
                return stored
        return None

    # --- gaps ---------------------------------------------------------------------------------

    async def note_gaps(self, line: str, dispenser: int, pos_ttc: int) -> list[int]:
        """Open a gap for every POS_TTC missing between the dispenser's previous highest and `pos_ttc`.

        Returns the gaps newly opened, ascending. Call after `store_record` (NEW), off the ack path.
        """
        now = self._clock()
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT max(pos_ttc) FROM transactions WHERE line = ? AND dispenser = ? AND pos_ttc <> ?",
                (line, dispenser, pos_ttc),
            )
            previous = None if row is None else row[0]
            if previous is None or pos_ttc <= previous + 1:
                return []
            missing = pos_ttc - previous - 1
            if missing > self._max_gap_jump:
                log.warning(
                    "dispenser %s/%s POS_TTC jumped from %s to %s: %s gaps not tracked",
                    line,
                    dispenser,
                    previous,
                    pos_ttc,
                    missing,
                )
                await raise_in(
                    tx,
                    alarm_source(line, dispenser),
                    JUMP_ALARM_CODE,
                    Severity.WARNING,
                    f"dispenser {dispenser} on {line}: POS_TTC jumped from {previous} to {pos_ttc}",
                    {"previous": previous, "pos_ttc": pos_ttc, "missing": missing},
                    now=now,
                )
                return []
            rows = await tx.execute(
                "INSERT OR IGNORE INTO record_gaps (line, dispenser, pos_ttc, first_seen) "
                "SELECT ?, ?, value, ? FROM json_each(?) RETURNING pos_ttc",
                (line, dispenser, iso_instant(now), json.dumps(list(range(previous + 1, pos_ttc)))),
            )
        return sorted(int(r[0]) for r in rows)

    async def open_gaps(self, line: str, dispenser: int, limit: int = 10) -> list[int]:
        """Open gaps to ask for next: never-tried first (lowest POS_TTC first), then least recently tried."""
        rows = await self._db.fetchall(
            "SELECT pos_ttc FROM record_gaps WHERE line = ? AND dispenser = ? AND state = 'open' "
            "ORDER BY last_try IS NOT NULL, last_try, pos_ttc LIMIT ?",
            (line, dispenser, limit),
        )
        return [int(r[0]) for r in rows]

    async def gap_attempt(self, line: str, dispenser: int, pos_ttc: int) -> int:
        """Count one 0x3E request for an open gap; returns the attempts so far (0: no such open gap)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE record_gaps SET attempts = attempts + 1, last_try = ? "
                "WHERE line = ? AND dispenser = ? AND pos_ttc = ? AND state = 'open' RETURNING attempts",
                (iso_instant(self._clock()), line, dispenser, pos_ttc),
            )
        return 0 if row is None else int(row[0])

    async def mark_gap_absent(self, line: str, dispenser: int, pos_ttc: int) -> None:
        """The dispenser answered 0x3F (no such record): the gap is closed as 'absent' (a filled gap stays)."""
        stamp = iso_instant(self._clock())
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO record_gaps (line, dispenser, pos_ttc, state, first_seen, last_try, resolved_at) "
                "VALUES (?, ?, ?, 'absent', ?, ?, ?) ON CONFLICT (line, dispenser, pos_ttc) DO UPDATE SET "
                "state = 'absent', last_try = excluded.last_try, resolved_at = excluded.resolved_at "
                "WHERE state = 'open'",
                (line, dispenser, pos_ttc, stamp, stamp, stamp),
            )

    async def gap_states(self, line: str, dispenser: int) -> dict[int, str]:
        """Every gap row of a dispenser, POS_TTC → state (for diagnostics and tests)."""
        rows = await self._db.fetchall(
            "SELECT pos_ttc, state FROM record_gaps WHERE line = ? AND dispenser = ? ORDER BY pos_ttc",
            (line, dispenser),
        )
        return {int(r[0]): str(r[1]) for r in rows}

    # --- totals and dispenser information -----------------------------------------------------

    async def store_totals(
        self,
        line: str,
        dispenser: int,
        totals: Totals,
        read_at: dt.datetime,
        *,
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        """Append one 0x38 reading (a history row per nozzle) and its outbox messages atomically."""
        stamp = iso_instant(read_at)
        async with self._db.transaction() as tx:
            for nozzle in totals.totals:
                await tx.execute(
                    "INSERT INTO totals (line, dispenser, nzn, v_tot, read_at) VALUES (?, ?, ?, ?, ?)",
                    (line, dispenser, nozzle.nzn, nozzle.v_tot, stamp),
                )
            await enqueue_in(tx, outbox, now=self._clock())

    async def latest_totals(self, line: str, dispenser: int) -> TotalsReading | None:
        """The most recent 0x38 reading of a dispenser, nozzles in NZN order; None if never read."""
        rows = await self._db.fetchall(
            "SELECT nzn, v_tot, read_at FROM totals WHERE line = ?1 AND dispenser = ?2 AND read_at = ("
            "SELECT read_at FROM totals WHERE line = ?1 AND dispenser = ?2 ORDER BY id DESC LIMIT 1) "
            "ORDER BY nzn, id",
            (line, dispenser),
        )
        if not rows:
            return None
        nozzles = tuple(NozzleTotal(nzn=int(r["nzn"]), v_tot=int(r["v_tot"])) for r in rows)
        return TotalsReading(parse_instant(rows[0]["read_at"]), Totals(totals=nozzles))

    async def store_dispenser_info(
        self,
        line: str,
        dispenser: int,
        info: DispenserInfo,
        read_at: dt.datetime,
        *,
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        """Keep the latest 0x3A answer of a dispenser (upsert) and queue its outbox messages atomically."""
        as_json = json.dumps(
            {f.name: _json_value(getattr(info, f.name)) for f in dataclasses.fields(info)}, sort_keys=True
        )
        async with self._db.transaction() as tx:
            await tx.execute(
                _INSERT_INFO,
                (
                    line,
                    dispenser,
                    info.m_info,
                    info.prov,
                    info.city,
                    info.superior,
                    info.s_id,
                    iso_local(info.time),
                    json.dumps(list(info.nozzles)),
                    info.bl_ver,
                    info.add_bl_ver,
                    info.del_bl_ver,
                    info.wh_ver,
                    info.prc_ver,
                    info.sta_ver,
                    info.m_data,
                    as_json,
                    iso_instant(read_at),
                ),
            )
            await enqueue_in(tx, outbox, now=self._clock())

    async def dispenser_info(self, line: str, dispenser: int) -> DispenserInfo | None:
        """The latest stored 0x3A answer of a dispenser."""
        row = await self._db.fetchone(
            "SELECT * FROM dispenser_info WHERE line = ? AND dispenser = ?", (line, dispenser)
        )
        if row is None:
            return None
        return DispenserInfo(
            m_info=row["m_info"],
            prov=row["prov"],
            city=row["city"],
            superior=row["superior"],
            s_id=row["s_id"],
            time=dt.datetime.fromisoformat(row["time"]),
            nozzles=tuple(json.loads(row["nozzles"])),
            bl_ver=row["bl_ver"],
            add_bl_ver=row["add_bl_ver"],
            del_bl_ver=row["del_bl_ver"],
            wh_ver=row["wh_ver"],
            prc_ver=row["prc_ver"],
            sta_ver=row["sta_ver"],
            m_data=bytes(row["m_data"]),
        )
