"""Exporting the journal: transactions as JSON lines or CSV, streamed from a read-only connection.

Layer: storage (synchronous; used by `station export`, which opens the file with `open_readonly`
while the daemon keeps writing). Rows are read in batches, never all at once.

One object (or CSV row) per stored row, ordered by line, dispenser, POS_TTC, id, with the fields

    line dispenser pos_ttc t_type time asn amn vol prc nzn g_code emp raw bal v_tot conflict

`time` is the record's TIME as ISO 8601 (station local time, no offset), or null (empty in CSV) when
the dispenser sent an invalid TIME; `raw` is the 95 stored bytes in lower-case hex; `conflict` is true
for a conflict copy (a re-sent record that differed from the original, spec B8): copies are exported
too, right after their original, so nothing the dispensers sent is hidden.

Every row is checked on the way (`storage.integrity`: its checksum, and the columns against the raw
bytes); a damaged row is exported as stored and reported to the caller, which names it
(`station export` on stderr, exit status 3).

`since` selects rows whose *event time* is at or after it: the record's TIME when valid, else the
time the controller received it, both in station local time to the second (an aware `since` is
converted to local time first).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any, TextIO

from storage.clock import iso_local
from storage.errors import translate
from storage.integrity import SCAN_COLUMNS, DamagedRecord, check_row

COLUMNS = (
    "line",
    "dispenser",
    "pos_ttc",
    "t_type",
    "time",
    "asn",
    "amn",
    "vol",
    "prc",
    "nzn",
    "g_code",
    "emp",
    "raw",
    "bal",
    "v_tot",
    "conflict",
)
BATCH_ROWS = 500

_CHECKED = tuple(name for name in SCAN_COLUMNS if name not in COLUMNS)
"""Columns read only to verify the row (`storage.integrity.check_row`)."""

_SELECT = f"""
SELECT line, dispenser, pos_ttc, t_type, time, asn, amn, vol, prc, nzn, g_code, emp, raw, bal, v_tot,
       conflict_of IS NOT NULL AS conflict, {", ".join(_CHECKED)}
FROM transactions
WHERE ?1 IS NULL OR event_time >= ?1
ORDER BY line, dispenser, pos_ttc, id
"""


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def iter_transactions(
    conn: sqlite3.Connection,
    *,
    since: dt.datetime | None = None,
    damaged: list[DamagedRecord] | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream the journal's rows as export objects (see the module docstring). Every row is verified
    against its checksum on the way; a damaged one is still exported and appended to `damaged`."""
    try:
        cursor = conn.execute(_SELECT, (None if since is None else iso_local(since),))
        try:
            while batch := cursor.fetchmany(BATCH_ROWS):
                for row in batch:
                    values = tuple(row)
                    item = dict(zip(COLUMNS, values[: len(COLUMNS)], strict=True))
                    checked = check_row({**item, **dict(zip(_CHECKED, values[len(COLUMNS) :], strict=True))})
                    if checked is not None and damaged is not None:
                        damaged.append(checked)
                    raw = item["raw"]
                    item["raw"] = raw.hex() if isinstance(raw, bytes) else str(raw)
                    item["conflict"] = bool(item["conflict"])
                    yield item
        finally:
            cursor.close()
    except sqlite3.Error as exc:
        raise translate(exc, _SELECT) from exc


def write_jsonl(items: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line; returns the number written."""
    count = 0
    for item in items:
        out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count


def write_csv(items: Iterable[dict[str, Any]], out: TextIO) -> int:
    """A header row, then one row per item (booleans as true/false, null as empty); returns the rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for item in items:
        writer.writerow(_csv_value(item[name]) for name in COLUMNS)
        count += 1
    return count


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def export_transactions(
    conn: sqlite3.Connection,
    out: TextIO,
    *,
    since: dt.datetime | None = None,
    fmt: ExportFormat | str = ExportFormat.JSONL,
    damaged: list[DamagedRecord] | None = None,
) -> int:
    """Write the journal (from `since`) to `out` as JSON lines or CSV; returns the rows written.
    Rows whose stored bytes fail their check are appended to `damaged` (see `iter_transactions`)."""
    items = iter_transactions(conn, since=since, damaged=damaged)
    if ExportFormat(fmt) is ExportFormat.CSV:
        return write_csv(items, out)
    return write_jsonl(items, out)
