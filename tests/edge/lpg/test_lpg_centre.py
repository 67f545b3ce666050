"""Cylinder additions from the centre (signed downlink document `cylinders`): the schema checked by the
downlink's parser, the CSV applied all or nothing, a bad one refused with the registry unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from edge.devices.lpg.specs import DEFAULT_SPECS, LpgSettings
from storage import lpg
from storage.db import Database
from uplink.documents import Document, parse_payload
from uplink.envelope import Body, DocKind
from uplink.errors import ApplyError, DownlinkRejected, Reason
from uplink.lpg_documents import CylindersApplier


def document(version: int, payload: dict[str, Any]) -> Document:
    body = Body(
        DocKind.CYLINDERS, "ST1", version, dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC), None, payload
    )
    return Document(f"cylinders-{version}", body, parse_payload(DocKind.CYLINDERS, payload), b"{}", b"")


GOOD = "barcode,spec,tare_kg,manufactured_on,next_inspection\nZ1,YSP-15,16,2024-01-01,2028-01-01\n"


async def test_centre_additions_all_or_nothing(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "station.db") as db:
        apply = CylindersApplier(db, LpgSettings(specs=DEFAULT_SPECS))
        with pytest.raises(ApplyError) as info:
            await apply(document(1, {"csv": GOOD + "Z2,YSP-15,-1,2024-01-01,2028-01-01\n"}))
        assert info.value.reason is Reason.APPLY_FAILED and "line 3: tare_kg" in str(info.value)
        assert await lpg.cylinders(db) == []
        note = await apply(document(2, {"csv": GOOD}))
        assert note == "cylinder registry: 1 added, 0 updated"
        [z1] = await lpg.state_history(db, "Z1")
        assert "centre document" in z1.reason


def test_the_schema_is_checked_before_any_applier() -> None:
    for payload in ({}, {"csv": ""}, {"csv": 5}, {"csv": GOOD, "extra": 1}):
        with pytest.raises(DownlinkRejected) as info:
            parse_payload(DocKind.CYLINDERS, payload)
        assert info.value.reason is Reason.SCHEMA
