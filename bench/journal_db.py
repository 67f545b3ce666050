"""Benchmark: the storage half of the record path, `Journal.store_record` commit latency.

Layer: bench. Opens a real SQLite file (WAL, synchronous=FULL) in a temporary folder and stores
`records` distinct records one after the other, each with one outbox message (as the daemon does),
timing each call from entry to durable commit. The design target for the whole record path (frame in
→ commit → ack out) is p99 < 20 ms; this figure is the commit part of it.

    uv run python -m bench.journal_db [records]
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from protocol.record import RECORD_STRUCT, sample_record
from storage.db import Database
from storage.journal import Journal
from storage.outbox import OutboxMessage

TARGET_P99_MS = 20.0

_TEMPLATE = sample_record(pos_ttc=0, time=dt.datetime(2024, 5, 1, 8, 0, 0))


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _measure(folder: Path, records: int) -> list[float]:
    prepared = []
    for n in range(1, records + 1):
        record = dataclasses.replace(_TEMPLATE, pos_ttc=n, v_tot=_TEMPLATE.v_tot + n * _TEMPLATE.vol)
        prepared.append((record, RECORD_STRUCT.build(record.to_dict())))
    db = await Database.open(folder / "bench.db")
    try:
        journal = Journal(db)
        latencies_ms = []
        for record, raw in prepared:
            message = OutboxMessage("station/bench/tx", f"bench/1/{record.pos_ttc}", raw)
            start = time.perf_counter()
            await journal.store_record(
                "bench", 1, record, raw, received_at=dt.datetime.now(dt.UTC), outbox=(message,)
            )
            latencies_ms.append((time.perf_counter() - start) * 1000)
        return latencies_ms
    finally:
        await db.close()


def run(records: int = 2000) -> dict[str, Any]:
    """Store `records` records and report the commit latency (p99 is the headline `value`)."""
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        latencies = sorted(asyncio.run(_measure(Path(tmp), records)))
    p99 = _percentile(latencies, 0.99)
    return {
        "name": "journal_db",
        "value": round(p99, 3),
        "unit": "ms",
        "target": TARGET_P99_MS,
        "ok": p99 < TARGET_P99_MS,
        "records": records,
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(latencies[-1], 3),
        "mean_ms": round(sum(latencies) / len(latencies), 3),
        "sqlite": sqlite3.sqlite_version,
        "settings": "WAL, synchronous=FULL, one outbox row per record",
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    result = run(int(args[0])) if args else run()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
