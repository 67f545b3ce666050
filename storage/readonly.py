"""Read-only views of the station database for the command line when the daemon may be running.

Layer: storage (thin I/O: a read-only SQLite connection, `storage.db.open_readonly`). Each function
returns plain values and an empty result for a database from before the tables it reads (the CLI then
shows nothing rather than fails).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.db import open_readonly
from storage.errors import StorageError


def schema_version(path: Path) -> int:
    """The schema version (`PRAGMA user_version`) of the database at `path`; 0 when there is none."""
    if not path.exists():
        return 0
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def stored_records(path: Path) -> int:
    """How many records the journal holds (conflicting copies not counted); 0 without a database."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT count(*) FROM transactions WHERE conflict_of IS NULL").fetchone()
    except sqlite3.Error:
        return 0  # the daemon never created its tables
    return int(row[0])


@dataclass(frozen=True)
class RulesData:
    grey_records: int
    weekend: list[int]
    holidays: list[str]
    shifted_working_days: list[str]


def rules_data(path: Path) -> RulesData | None:
    """The grey records held and the calendar; None without a database or before the rules tables."""
    try:
        conn = open_readonly(path)
    except StorageError:
        return None
    try:
        try:
            greys = int(conn.execute("SELECT count(*) FROM remote_greys").fetchone()[0])
            rows = conn.execute("SELECT day, kind FROM calendar ORDER BY day").fetchall()
            weekend_row = conn.execute("SELECT value FROM meta WHERE key = 'calendar.weekend'").fetchone()
        except sqlite3.Error:  # a database from before the rules migration: nothing to show
            return None
        return RulesData(
            grey_records=greys,
            weekend=json.loads(weekend_row[0]) if weekend_row else [5, 6],
            holidays=[r[0] for r in rows if r[1] == "holiday"],
            shifted_working_days=[r[0] for r in rows if r[1] == "working"],
        )
    finally:
        conn.close()


@dataclass(frozen=True)
class PriceRows:
    tables: list[dict[str, Any]]
    """Every stored price table, oldest version first: `version`, `effective`, `activated_at`,
    `source`, `body` (JSON text)."""
    receipts: dict[tuple[str, int, int], str]
    """(line, dispenser, version) → when the dispenser confirmed that price table."""


def price_rows(path: Path) -> PriceRows:
    """The stored price tables and receipts; empty without a database or before the prices tables."""
    try:
        conn = open_readonly(path)
    except StorageError:
        return PriceRows([], {})
    try:
        tables = [dict(row) for row in conn.execute("SELECT * FROM price_tables ORDER BY version")]
        receipts = {
            (row["line"], int(row["dispenser"]), int(row["version"])): row["received_at"]
            for row in conn.execute("SELECT line, dispenser, version, received_at FROM price_receipts")
        }
    except sqlite3.Error:
        return PriceRows([], {})
    finally:
        conn.close()
    return PriceRows(tables, receipts)
