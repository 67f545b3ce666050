"""Tear tests: a top-up, a grey unlock and a replacement torn at EVERY APDU of the operation, the
response lost after the card applied it (AFTER) or the power lost before (BEFORE).

After each tear the card is inserted again and read (the desk settles what was left open), then the
operator does the operation again if it was refused. Afterwards: the card's balance and the station's
records agree, the money was written exactly once, no operation is left open, and each operation
reached the centre's queue once per final state (its key is unique).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from station_sim.card.slot import TearMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desk_testkit import BOSS, DeskRig, topup

from edge.control import messages as m
from edge.devices.desk.service import DeskError
from storage import desk as store
from storage.db import Database
from storage.greys import RemoteGrey

OLD = "10000101100000000017"


async def grey_record(rig: DeskRig, amount: int) -> None:
    access = await rig.reader.open()
    await access.read_issuer()
    grey = await access.read_grey()
    assert grey.locked_at is not None
    await rig.rules.remote.replace_all([
        RemoteGrey(asn=rig.card.state.asn, bal=grey.balance, ctc=grey.offline_counter, ds=0, time=grey.locked_at,
                   amn=amount, gmac=0, psam_tid=bytes(6), psam_ttc=1, station_id="00000042", province=0x11,
                   dispenser=3),
    ])  # fmt: skip


async def setup_topup(rig: DeskRig) -> tuple[Any, int, int]:
    return topup(12_345), 50_000, 50_000 + 12_345


async def setup_unlock(rig: DeskRig) -> tuple[Any, int, int]:
    rig.swap("grey")
    await grey_record(rig, 2_000)  # locked at this station this morning: unlockable today
    return m.DeskUnlock(), 80_000, 78_000


async def setup_replace(rig: DeskRig) -> tuple[Any, int, int]:
    await rig.run(m.DeskRead())  # the desk knows the old card's balance: 50 000
    await rig.service.set_status(BOSS, "lost", OLD)
    rig.swap("blank")  # the new card: blank, issued during the replacement
    return m.DeskReplace(old_asn=OLD), 0, 50_000


SETUPS: dict[str, Callable[[DeskRig], Awaitable[tuple[Any, int, int]]]] = {
    "topup": setup_topup,
    "unlock": setup_unlock,
    "replace": setup_replace,
}


WRITES = (b"\x80\x52", b"\xe0\x7e")
"""CREDIT FOR LOAD, DEBIT FOR UNLOCK: the APDUs that write the money."""


async def one_run(
    tmp: Path, kind: str, tear: tuple[int, TearMode] | None
) -> tuple[DeskRig, Database, list[bytes]]:
    db = await Database.open(tmp / "station.db")
    rig = DeskRig(db)
    request, _before, _after = await SETUPS[kind](rig)
    sent = len(rig.reader.channel.sent)
    if tear is not None:
        rig.tear(*tear)
    with contextlib.suppress(DeskError):
        await rig.run(request, BOSS)
    return rig, db, rig.reader.channel.sent[sent:]


@pytest.mark.parametrize("mode", [TearMode.AFTER, TearMode.BEFORE])
@pytest.mark.parametrize("kind", list(SETUPS))
async def test_torn_at_every_apdu_the_money_is_written_once(
    tmp_path: Path, kind: str, mode: TearMode
) -> None:
    rig, db, apdus = await one_run(tmp_path / "clean", kind, None)
    await db.close()
    [write_at] = [i + 1 for i, apdu in enumerate(apdus) if apdu[:2] in WRITES]
    written = []
    for n in range(1, len(apdus) + 1):
        rig, db, _ = await one_run(tmp_path / f"{n}", kind, (n, mode))
        try:
            written.append(await check(rig, db, kind, n, mode))
        finally:
            await db.close()
    # torn before the write APDU: refused; the write APDU itself: applied with its answer lost (AFTER:
    # found on the card and confirmed) or never applied (BEFORE: refused); after it: confirmed
    first_written = write_at if mode is TearMode.AFTER else write_at + 1
    assert written == [n >= first_written for n in range(1, len(apdus) + 1)], (write_at, written)


FIGURES = {"topup": (50_000, 62_345), "unlock": (80_000, 78_000), "replace": (0, 50_000)}
"""The card's balance before and after each operation."""


async def check(rig: DeskRig, db: Database, kind: str, n: int, mode: TearMode) -> bool:
    """Settle and check one torn run; True when the write had happened (found by reading the card)."""
    where = f"{kind} torn at APDU {n} ({mode.value})"
    before, after = FIGURES[kind]
    rig.reinsert()
    await rig.run(m.DeskRead(), BOSS)  # re-insertion: open operations settled from the card
    assert await store.open_operations(db) == [], where
    balance = rig.card.state.ep.balance
    assert balance in (before, after), (where, balance)
    ops = [o for o in await store.operations(db) if o.kind == kind]
    confirmed = [o for o in ops if o.state.value == "confirmed"]
    assert len(confirmed) == (1 if balance == after else 0), (where, [(o.state, o.resolution) for o in ops])
    written = balance == after
    if balance == before:  # refused: the money is still owed; the operator does it again
        assert all(o.state.value == "refused" for o in ops), where
        op, _words, _view = await rig.run(await retry_request(rig, kind), BOSS)
        assert op.state.value == "confirmed", where
    assert rig.card.state.ep.balance == after, where
    ops = [o for o in await store.operations(db) if o.kind == kind]
    assert len([o for o in ops if o.state.value == "confirmed"]) == 1, where
    keys = await rig.messages()
    assert len(keys) == len(set(keys)), where
    finals = [k for k in keys if k.endswith((":confirmed", ":refused"))]
    assert len(finals) == len([o for o in ops if o.state.value in ("confirmed", "refused")]), (where, keys)
    if kind == "replace":
        old = await store.card(db, OLD)
        assert old is not None and (old.status, old.replaced_by) == ("replaced", rig.card.state.asn), where
    return written


async def retry_request(rig: DeskRig, kind: str) -> Any:
    return {"topup": topup(12_345), "unlock": m.DeskUnlock(), "replace": m.DeskReplace(old_asn=OLD)}[kind]
