"""Audit `details` are stored as JSON — dates, enums, paths, bytes as their JSON forms, never Python reprs."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path

from storage.audit import Outcome, append_in
from storage.db import Database


class Colour(enum.Enum):
    RED = "red"


async def test_details_of_every_kind_are_stored_as_json(db: Database) -> None:
    details = {
        "at": dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 2),
        "colour": Colour.RED,
        "file": Path("/var/lib/station/lists/base.bin"),
        "raw": b"\x01\xab",
        "nozzles": (1, 2),
        "codes": frozenset({"b", "a"}),
        "text": "加油站",
    }
    async with db.transaction() as tx:
        await append_in(
            tx, actor="admin", action="test", outcome=Outcome.OK, details=details, now=dt.datetime.now(dt.UTC)
        )
    (row,) = await db.fetchall("SELECT details FROM audit_log")
    stored = json.loads(row[0])
    assert stored == {
        "at": "2026-12-02T08:30:00+00:00",
        "day": "2026-12-02",
        "colour": "red",
        "file": "/var/lib/station/lists/base.bin",
        "raw": "01ab",
        "nozzles": [1, 2],
        "codes": ["a", "b"],
        "text": "加油站",
    }
    assert "datetime.datetime(" not in row[0] and "<Colour" not in row[0]
