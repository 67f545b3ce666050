"""Closed days moved from the live journal to the archive database, which the reports still read.

Layer: storage (synchronous; `station archive` and the daemon's scheduled archive run it in a worker
thread on their own write connection — WAL lets the daemon keep committing, each day is one short
transaction). A day is moved only when:

    it is closed (day_closes) and before the cut-off date
    its close has been sent to the centre (no `dayclose:` outbox row for it)
    none of its records is still in the outbox (unsent)      — else the whole day is skipped, with why

Its records (every kind, and conflict copies with their originals) move, except grey records not yet
unlocked: the 0x35 grey lookup needs them in the live journal. Two steps, each atomic, in this order:

    1. archive db:  INSERT OR IGNORE the rows (same ids)           COMMIT  (re-running is harmless)
    2. live db:     DELETE the rows that are in the archive, byte-identical (raw), INSERT archived_days
                                                                   COMMIT

A crash between 1 and 2 leaves rows in both files; the reports read the archive only for ids the live
journal no longer has (`query.ReportReader`), so nothing is counted twice, and the next run finishes.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from storage.clock import iso_instant
from storage.db import BUSY_TIMEOUT_MS
from storage.errors import StorageError, translate
from storage.reports.query import JOURNAL_COLUMNS

log = logging.getLogger(__name__)

ARCHIVE_APPLICATION_ID = 0x5354_4E41  # "STNA": a station archive database
_ARCHIVE_SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY, line TEXT NOT NULL, dispenser INTEGER NOT NULL, pos_ttc INTEGER NOT NULL,
    t_type INTEGER NOT NULL, kind INTEGER NOT NULL, time TEXT, event_time TEXT NOT NULL, asn TEXT NOT NULL,
    bal INTEGER NOT NULL, amn INTEGER NOT NULL, ctc INTEGER NOT NULL, ds INTEGER NOT NULL, unit INTEGER NOT NULL,
    nzn INTEGER NOT NULL, g_code TEXT NOT NULL, vol INTEGER NOT NULL, prc INTEGER NOT NULL, emp INTEGER NOT NULL,
    v_tot INTEGER NOT NULL, t_mac INTEGER NOT NULL, raw BLOB NOT NULL, received_at TEXT NOT NULL,
    tmac_error INTEGER NOT NULL DEFAULT 0, conflict_of INTEGER
);
CREATE INDEX IF NOT EXISTS transactions_event_time ON transactions (event_time);
CREATE INDEX IF NOT EXISTS transactions_key ON transactions (line, dispenser, pos_ttc, id);
CREATE INDEX IF NOT EXISTS transactions_card ON transactions (asn, ctc);
"""


class ArchiveError(StorageError):
    """The archive cannot be written or does not match the live journal."""


@dataclass
class ArchiveResult:
    moved_days: list[str] = field(default_factory=list)
    moved_records: int = 0
    kept_greys: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    """Day → why it was not moved (not sent yet, records unsent)."""


def open_archive(path: Path) -> sqlite3.Connection:
    """The archive database (created with its schema when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        app = int(conn.execute("PRAGMA application_id").fetchone()[0])
        if app not in (0, ARCHIVE_APPLICATION_ID):
            conn.close()
            raise ArchiveError(f"{path} is not a station archive database (application_id {app:#x})")
        conn.executescript(_ARCHIVE_SCHEMA)
        conn.execute(f"PRAGMA application_id = {ARCHIVE_APPLICATION_ID}")
    except sqlite3.Error as exc:
        raise translate(exc, "open archive") from exc
    return conn


def _unsent_records(conn: sqlite3.Connection) -> set[tuple[str, int, int]]:
    """(line, dispenser, pos_ttc) of every record whose message is still in the outbox."""
    out: set[tuple[str, int, int]] = set()
    for (key,) in conn.execute("SELECT key FROM outbox WHERE key LIKE 'rec:%'"):
        parts = [unquote(p) for p in str(key).split(":")]
        if len(parts) >= 5:
            try:
                out.add((parts[2], int(parts[3]), int(parts[4])))
            except ValueError:
                continue
    return out


def _unsent_closes(conn: sqlite3.Connection) -> set[str]:
    return {
        unquote(str(k).split(":")[-1])
        for (k,) in conn.execute("SELECT key FROM outbox WHERE key LIKE 'dayclose:%'")
    }


def archive_before(
    live: Path, archive: Path, before: dt.date, *, now: dt.datetime | None = None
) -> ArchiveResult:
    """Move every closed business day before `before` (see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    result = ArchiveResult()
    try:
        conn = sqlite3.connect(live, isolation_level=None)
    except sqlite3.Error as exc:
        raise translate(exc, "open database") from exc
    arch = open_archive(archive)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        days = conn.execute(
            "SELECT day, starts_at, ends_at FROM day_closes WHERE day < ?"
            " AND day NOT IN (SELECT day FROM archived_days) ORDER BY day",
            (before.isoformat(),),
        ).fetchall()
        unsent = _unsent_records(conn)
        unsent_closes = _unsent_closes(conn)
        for day, start, end in days:
            if day in unsent_closes:
                result.skipped[day] = "its close has not been sent to the centre yet"
                continue
            moved = _archive_day(conn, arch, day, start, end, unsent, archive.name, now, result)
            if moved is not None:
                result.moved_days.append(day)
                result.moved_records += moved
    except sqlite3.Error as exc:
        raise translate(exc, "archive") from exc
    finally:
        arch.close()
        conn.close()
    return result


def _day_ids(
    conn: sqlite3.Connection, start: str, end: str
) -> tuple[list[int], list[tuple[str, int, int]], int]:
    """(ids to move, their keys, outstanding greys kept) of one day: originals in the window except
    grey records not yet unlocked, plus the conflict copies of those originals."""
    rows = conn.execute(
        "SELECT t.id, t.line, t.dispenser, t.pos_ttc, t.kind = 1 AND NOT EXISTS ("
        "   SELECT 1 FROM transactions AS u WHERE u.asn = t.asn AND u.ctc = t.ctc AND u.kind IN (3, 4)"
        "   AND u.conflict_of IS NULL) AS outstanding"
        " FROM transactions AS t WHERE t.conflict_of IS NULL AND t.event_time >= ? AND t.event_time < ?",
        (start, end),
    ).fetchall()
    keep = sum(1 for r in rows if r[4])
    originals = [int(r[0]) for r in rows if not r[4]]
    keys = [(str(r[1]), int(r[2]), int(r[3])) for r in rows if not r[4]]
    copies: list[int] = []
    for i in range(0, len(originals), 500):
        chunk = originals[i : i + 500]
        marks = ",".join("?" * len(chunk))
        copies += [
            int(r[0])
            for r in conn.execute(f"SELECT id FROM transactions WHERE conflict_of IN ({marks})", chunk)
        ]
    return originals + copies, keys, keep


def _archive_day(
    conn: sqlite3.Connection,
    arch: sqlite3.Connection,
    day: str,
    start: str,
    end: str,
    unsent: set[tuple[str, int, int]],
    archive_name: str,
    now: dt.datetime,
    result: ArchiveResult,
) -> int | None:
    ids, keys, kept = _day_ids(conn, start, end)
    waiting = [k for k in keys if k in unsent]
    if waiting:
        result.skipped[day] = (
            f"{len(waiting)} records not yet sent to the centre, e.g. {'/'.join(map(str, waiting[0]))}"
        )
        return None
    cols = ", ".join(JOURNAL_COLUMNS)
    marks = ", ".join("?" * len(JOURNAL_COLUMNS))
    # 1. the archive: copy (idempotent on id)
    arch.execute("BEGIN IMMEDIATE")
    try:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT {cols} FROM transactions WHERE id IN ({q})", chunk).fetchall()
            arch.executemany(f"INSERT OR IGNORE INTO transactions ({cols}) VALUES ({marks})", rows)
        arch.execute("COMMIT")
    except BaseException:
        arch.execute("ROLLBACK")
        raise
    # 2. the live journal: delete what the archive holds byte for byte, note the day
    conn.execute("BEGIN IMMEDIATE")
    try:
        deleted = 0
        # conflict copies first (they reference their originals)
        for i in range(len(ids) - 1, -1, -500):
            chunk = ids[max(0, i - 499) : i + 1]
            q = ",".join("?" * len(chunk))
            held = {
                int(r[0]): bytes(r[1])
                for r in arch.execute(f"SELECT id, raw FROM transactions WHERE id IN ({q})", chunk)
            }
            live_rows = conn.execute(f"SELECT id, raw FROM transactions WHERE id IN ({q})", chunk).fetchall()
            for rid, raw in live_rows:
                if held.get(int(rid)) != bytes(raw):
                    raise ArchiveError(f"day {day}: row {rid} differs in the archive; nothing deleted")
            copies_first = sorted((int(r[0]) for r in live_rows), reverse=True)
            conn.executemany(
                "DELETE FROM transactions WHERE id = ? AND conflict_of IS NOT NULL",
                [(r,) for r in copies_first],
            )
            conn.executemany("DELETE FROM transactions WHERE id = ?", [(r,) for r in copies_first])
            deleted += len(live_rows)
        conn.execute(
            "INSERT INTO archived_days (day, archived_at, records, archive) VALUES (?, ?, ?, ?)",
            (day, iso_instant(now), deleted, archive_name),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    result.kept_greys += kept
    log.info(
        "archived business day %s: %d records moved, %d outstanding grey records kept", day, deleted, kept
    )
    return deleted
