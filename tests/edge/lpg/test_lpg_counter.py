"""Real-name hand-out and return on a real database: the overdue customer's warning, the unfit
cylinder's refusal (nothing half-applied), both audited; ID numbers masked unless the role may read them,
full reads audited; the receipt's record queued for the centre."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.devices.lpg.counter import CounterRefused, CounterService, mask_id
from edge.devices.lpg.specs import DEFAULT_SPECS, LpgSettings
from storage import lpg
from storage.audit import AuditLog
from storage.db import Database
from storage.lpg_counter import CustomerKind, CustomerRow, add_customer_in, moves

NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def cyl(barcode: str, state: lpg.CylinderState, next_inspection: dt.date) -> lpg.CylinderRow:
    return lpg.CylinderRow(barcode, "YSP-15", 16.0, dt.date(2022, 1, 1), None, next_inspection,
                           dt.date(2030, 1, 1), "station", state)  # fmt: skip


@pytest.fixture
async def counter(tmp_path: Path) -> AsyncIterator[tuple[CounterService, Database, int, int]]:
    db = await Database.open(tmp_path / "station.db")
    far = TODAY + dt.timedelta(days=400)
    async with db.transaction() as tx:
        await lpg.upsert_cylinders_in(tx, [
            cyl("F1", lpg.CylinderState.FULL, far),
            cyl("F2", lpg.CylinderState.FULL, TODAY + dt.timedelta(days=20)),
            cyl("OVER", lpg.CylinderState.PROBLEM, far),
            cyl("LATE", lpg.CylinderState.FULL, TODAY - dt.timedelta(days=3)),
            cyl("E1", lpg.CylinderState.EMPTY, far),
        ], source="t", actor="t", now=NOW)  # fmt: skip
        overdue = await add_customer_in(tx, CustomerRow(0, CustomerKind.RESIDENT, "张三", "110101199001011234", "",
                                                        "13800000000", "A路1号", "A路1号", "C-001",
                                                        TODAY - dt.timedelta(days=400)), now=NOW)  # fmt: skip
        fine = await add_customer_in(tx, CustomerRow(0, CustomerKind.NON_RESIDENT, "饭店", "91110000X", "91110000X",
                                                     "", "", "", "C-002", TODAY - dt.timedelta(days=10)),
                                     now=NOW)  # fmt: skip
    service = CounterService(db, LpgSettings(specs=DEFAULT_SPECS), station="ST1", clock=lambda: NOW)
    try:
        yield service, db, overdue, fine
    finally:
        await db.close()


def test_mask() -> None:
    assert mask_id("110101199001011234") == "110101********1234"
    assert mask_id("12345") == "***45"


async def test_lookup_masks_the_id_and_audits_full_reads(
    counter: tuple[CounterService, Database, int, int],
) -> None:
    service, db, overdue, _ = counter
    seen = await service.find("C-001", operator="op1", role="operator")
    assert seen is not None and seen.id_number == "110101********1234"
    assert seen.warning is not None and "overdue by 35 days" in seen.warning
    assert not await AuditLog(db).recent(10, action="lpg.customer.read_id")
    full = await service.find("110101199001011234", operator="boss", role="senior")
    assert full is not None and full.id_number == "110101199001011234"
    [read] = await AuditLog(db).recent(10, action="lpg.customer.read_id")
    assert (read.actor, read.role, read.target) == ("boss", "senior", str(overdue))
    assert await service.find("nobody", operator="op1", role="operator") is None


async def test_handout_warns_refuses_and_audits(counter: tuple[CounterService, Database, int, int]) -> None:
    service, db, overdue, fine = counter
    # an unfit cylinder among fit ones refuses the whole hand-out: nothing stored, nothing moved
    for bad, words in (
        ("OVER", "problem"),
        ("LATE", "overdue"),
        ("E1", "not full"),
        ("NOPE", "not in the registry"),
    ):
        with pytest.raises(CounterRefused) as info:
            await service.hand_out(fine, ["F1", bad], operator="op1", role="operator")
        assert words in str(info.value)
    assert await moves(db) == []
    assert (await lpg.cylinder(db, "F1")).state is lpg.CylinderState.FULL  # type: ignore[union-attr]
    refused = [r for r in await AuditLog(db).recent(50, action="lpg.handout") if r.outcome == "refused"]
    assert len(refused) == 4

    # the overdue customer: handed out with the warnings shown and stored
    receipt = await service.hand_out(
        overdue, ["F1", "F2"], operator="op1", role="operator", deposit_cents=5000
    )
    assert any("safety inspection overdue by 35 days" in w for w in receipt.warnings)
    assert any("F2: inspection due in 20 days" in w for w in receipt.warnings)
    [ok] = [r for r in await AuditLog(db).recent(50, action="lpg.handout") if r.outcome == "ok"]
    assert ok.details["warnings"] == list(receipt.warnings)
    assert {m.barcode for m in await moves(db, receipt.receipt)} == {"F1", "F2"}
    f1 = await lpg.cylinder(db, "F1")
    assert f1 is not None and f1.state is lpg.CylinderState.AT_CUSTOMER and f1.owner == f"customer:{overdue}"
    rows = await db.fetchall("SELECT payload FROM outbox WHERE topic = 'station/ST1/lpg/counter'")
    assert json.loads(rows[0]["payload"])["receipt"] == receipt.receipt

    # a cylinder out with one customer is not taken back from another; its own customer returns it
    with pytest.raises(CounterRefused, match="not handed out to this customer"):
        await service.take_back(fine, ["F1"], operator="op1", role="operator")
    back = await service.take_back(overdue, ["F1"], operator="op1", role="operator", residual_kg={"F1": 0.8})
    assert back.residual_kg == 0.8
    f1 = await lpg.cylinder(db, "F1")
    assert f1 is not None and f1.state is lpg.CylinderState.EMPTY and f1.owner == "station"
