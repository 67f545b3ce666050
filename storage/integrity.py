"""Record integrity: every journal row carries a checksum of its raw bytes, verified on read and export.

Layer: storage (pure checks plus synchronous scans over a read-only connection). SQLite checksums no
pages: a few bytes changed on the medium (a bad SD-card sector, a stray write) are read back as if
they were true. So each row of `transactions` stores, beside the record,

    raw_sum = SHA-256( "<line>\\x1f<dispenser>\\x1f<pos_ttc>\\x1f" || raw )        (32 bytes)

written in the same INSERT as the record (`Journal.store_record`). A row is **damaged** when

    raw is not 95 bytes, or raw_sum does not match (line, dispenser, POS_TTC, raw)    raw damaged
    a column derived from raw (amn, vol, time …) differs from decoding raw again       columns damaged
    received_at is not a readable instant                                              columns damaged

What can be recovered (docs/database.md, docs/operations.md):

- columns damaged, raw intact (its checksum matches): everything, from raw (`repair_columns`);
- raw damaged: the dispenser still holds the record → read it again with 0x3E; the journal accepts the
  answer as the row's true bytes only when it matches the stored checksum (`Journal.store_record`,
  outcome REPAIRED); otherwise the centre's copy (delivered before the damage) is the truth;
- raw and raw_sum both damaged, and neither the dispenser nor the centre has it: lost (still named).

Rows stored before the checksum existed get theirs from `backfill_sums` (their bytes are trusted as
they are at that moment: damage from before cannot be detected, except through derived columns).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.codec import decode_record
from protocol.errors import ProtocolError
from protocol.record import RECORD_LEN, TransactionRecord
from storage.clock import iso_local, parse_instant
from storage.db import Database
from storage.errors import translate

SUM_LEN = 32
DAMAGED_ALARM_CODE = "record_damaged"
SCAN_BATCH_ROWS = 1000

DERIVED_COLUMNS = (
    "t_type", "kind", "time", "asn", "bal", "amn", "ctc", "ds", "unit", "nzn", "g_code", "vol", "prc",
    "emp", "v_tot", "t_mac",
)  # fmt: skip
"""The `transactions` columns that are a pure function of `raw` (what `derived_columns` returns)."""

SCAN_COLUMNS = ("id", "line", "dispenser", "pos_ttc", "raw", "raw_sum", "received_at", *DERIVED_COLUMNS)


def damaged_alarm_source(line: str, dispenser: int, pos_ttc: int) -> str:
    """One alarm per damaged record: `<line>/<dispenser>#<POS_TTC>`."""
    return f"{line}/{dispenser}#{pos_ttc}"


def record_sum(line: str, dispenser: int, pos_ttc: int, raw: bytes) -> bytes:
    """The checksum stored with a record: SHA-256 of its key and its raw bytes (see the module docstring)."""
    digest = hashlib.sha256(f"{line}\x1f{dispenser}\x1f{pos_ttc}\x1f".encode())
    digest.update(raw)
    return digest.digest()


def decode_raw(raw: bytes) -> TransactionRecord:
    """The record in 95 stored bytes (raises `ValueError` when they cannot be a record)."""
    if len(raw) != RECORD_LEN:
        raise ValueError(f"a record is {RECORD_LEN} bytes, got {len(raw)}")
    try:
        return decode_record(raw)
    except ProtocolError as exc:
        raise ValueError(f"not a decodable record: {exc}") from exc


def derived_columns(record: TransactionRecord) -> dict[str, Any]:
    """The `transactions` columns the journal derives from a record (one definition for write and check)."""
    return {
        "t_type": record.t_type,
        "kind": record.t_type & 0x0F,
        "time": iso_local(record.time) if isinstance(record.time, dt.datetime) else None,
        "asn": record.asn,
        "bal": record.bal,
        "amn": record.amn,
        "ctc": record.ctc,
        "ds": record.ds,
        "unit": record.unit,
        "nzn": record.nzn,
        "g_code": record.g_code,
        "vol": record.vol,
        "prc": record.prc,
        "emp": record.emp,
        "v_tot": record.v_tot,
        "t_mac": record.t_mac,
    }


@dataclass(frozen=True, slots=True)
class DamagedRecord:
    """A journal row whose stored bytes changed since they were written."""

    row_id: int
    line: str
    dispenser: int
    pos_ttc: int
    problems: tuple[str, ...]
    raw_damaged: bool
    """True: the record's own bytes are wrong (recover them from the dispenser or the centre); False:
    only columns derived from them are (rebuilt from the intact bytes)."""

    @property
    def name(self) -> str:
        """How people name it: `bus1/2 POS_TTC 1234 (row 57)`."""
        return f"{self.line}/{self.dispenser} POS_TTC {self.pos_ttc} (row {self.row_id})"

    @property
    def alarm_source(self) -> str:
        return damaged_alarm_source(self.line, self.dispenser, self.pos_ttc)

    @property
    def recovery(self) -> str:
        if not self.raw_damaged:
            return "its bytes are intact: the columns derived from them are rebuilt from them"
        return (
            f"re-read it from dispenser {self.dispenser} on {self.line} with 0x3E while the dispenser still "
            "holds it (the station asks by itself and accepts only the bytes matching the stored checksum); "
            "otherwise take the centre's copy"
        )

    def message(self) -> str:
        return f"Record {self.name} changed on disk ({'; '.join(self.problems)}): {self.recovery}"

    def details(self) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "line": self.line,
            "dispenser": self.dispenser,
            "pos_ttc": self.pos_ttc,
            "problems": list(self.problems),
            "raw_damaged": self.raw_damaged,
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


def check_row(row: Mapping[str, Any] | sqlite3.Row) -> DamagedRecord | None:
    """None when the row is sound, else what is wrong with it (`row` has the `SCAN_COLUMNS`)."""
    problems: list[str] = []
    raw_damaged = False
    line, dispenser, pos_ttc = row["line"], row["dispenser"], row["pos_ttc"]
    raw = row["raw"]
    if not isinstance(raw, bytes) or len(raw) != RECORD_LEN:
        problems.append("raw is not 95 bytes")
        raw_damaged = True
    else:
        stored_sum = row["raw_sum"]
        if stored_sum is not None and (
            not isinstance(stored_sum, bytes)
            or not isinstance(line, str)
            or not isinstance(dispenser, int)
            or not isinstance(pos_ttc, int)
            or record_sum(line, dispenser, pos_ttc, raw) != stored_sum
        ):
            problems.append("raw bytes or key differ from their checksum")
            raw_damaged = True
        try:
            derived = derived_columns(decode_raw(raw))
        except ValueError as exc:
            problems.append(str(exc))
            raw_damaged = True
        else:
            wrong = [name for name in DERIVED_COLUMNS if row[name] != derived[name]]
            if wrong:
                problems.append("columns differ from the raw bytes: " + ", ".join(wrong))
    try:
        parse_instant(str(row["received_at"]))
    except ValueError:
        problems.append("received_at is not an instant")
    if not problems:
        return None
    return DamagedRecord(
        row_id=_int(row["id"]),
        line=line if isinstance(line, str) else repr(line),
        dispenser=_int(dispenser),
        pos_ttc=_int(pos_ttc),
        problems=tuple(problems),
        raw_damaged=raw_damaged,
    )


_SCAN = f"SELECT {', '.join(SCAN_COLUMNS)} FROM transactions WHERE id > ? ORDER BY id LIMIT ?"


def scan(conn: sqlite3.Connection, *, batch_rows: int = SCAN_BATCH_ROWS) -> Iterator[DamagedRecord]:
    """Every damaged row of the journal, in row order (batches; `conn` may be read-only)."""
    last = 0
    while True:
        try:
            rows = conn.execute(_SCAN, (last, batch_rows)).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, _SCAN) from exc
        if not rows:
            return
        for row in rows:
            found = check_row(dict(zip(SCAN_COLUMNS, row, strict=True)))
            if found is not None:
                yield found
        last = int(rows[-1][0])


def quick_check(conn: sqlite3.Connection) -> list[str]:
    """`PRAGMA quick_check` ([] when sound): the b-tree structure, not the records' content."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:
        raise translate(exc, "PRAGMA quick_check") from exc
    return [] if rows == ["ok"] else rows


async def backfill_sums(db: Database, *, batch_rows: int = SCAN_BATCH_ROWS) -> int:
    """Give every row stored before checksums existed its `raw_sum` (see the module docstring).

    Returns how many rows got one. Idempotent; each batch is one transaction."""
    done = 0
    while True:
        async with db.transaction() as tx:
            rows = await tx.execute(
                "SELECT id, line, dispenser, pos_ttc, raw FROM transactions WHERE raw_sum IS NULL "
                "AND typeof(raw) = 'blob' AND length(raw) = ? LIMIT ?",
                (RECORD_LEN, batch_rows),
            )
            for r in rows:
                raw_sum = record_sum(str(r["line"]), int(r["dispenser"]), int(r["pos_ttc"]), bytes(r["raw"]))
                await tx.execute("UPDATE transactions SET raw_sum = ? WHERE id = ?", (raw_sum, int(r["id"])))
        done += len(rows)
        if len(rows) < batch_rows:
            return done


async def repair_columns(db: Database, damaged: DamagedRecord) -> bool:
    """Rebuild the derived columns of a row whose raw bytes are intact; False when they are not."""
    if damaged.raw_damaged:
        return False
    async with db.transaction() as tx:
        row = await tx.fetchone(
            f"SELECT {', '.join(SCAN_COLUMNS)} FROM transactions WHERE id = ?", (damaged.row_id,)
        )
        if row is None:
            return False
        again = check_row(row)
        if again is None:
            return True
        if again.raw_damaged:
            return False
        columns = derived_columns(decode_raw(bytes(row["raw"])))
        assignments = ", ".join(f"{name} = :{name}" for name in columns)
        await tx.execute(
            f"UPDATE transactions SET {assignments} WHERE id = :id", {**columns, "id": damaged.row_id}
        )
    return True
