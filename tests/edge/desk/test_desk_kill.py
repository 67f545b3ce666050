"""The desk process SIGKILLed at every step of a top-up, a grey unlock and a replacement.

A child process (`desk_kill_child.py`: the real desk service and database, the virtual card kept in a
state file) is killed at each step of the money write: after the intent is stored, after `written` is
stored (the write not sent), after the card answered (the outcome not stored), after the outcome is
stored. Then, as after a restart: the start-up recovery runs, the card is inserted again and read.
Afterwards the card and the records agree, the money was written exactly once (the operator does the
operation again when it was refused), nothing is left open, and each final state is queued once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from station_sim.card.state import load_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desk_testkit import BOSS, DeskRig, topup

from edge.control import messages as m
from edge.devices.desk.cardops import FAULT_KILL_ENV
from storage import desk as store
from storage.db import Database

CHILD = Path(__file__).resolve().parent / "desk_kill_child.py"
ROOT = Path(__file__).resolve().parents[3]
STEPS = ("intent", "written", "applied", "finished")
FIGURES = {"topup": (50_000, 62_345), "unlock": (80_000, 78_000), "replace": (0, 50_000)}
OLD = "10000101100000000017"


def retry(kind: str) -> object:
    return {"topup": topup(12_345), "unlock": m.DeskUnlock(), "replace": m.DeskReplace(old_asn=OLD)}[kind]


@pytest.mark.parametrize("kind", list(FIGURES))
@pytest.mark.parametrize("step", STEPS)
async def test_killed_at_every_step_the_money_is_written_once(tmp_path: Path, kind: str, step: str) -> None:
    db_path, state_file = tmp_path / "station.db", tmp_path / "card.json"
    env = {**os.environ, FAULT_KILL_ENV: step, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(db_path), str(state_file), kind, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await child.communicate()
    assert child.returncode == -9, (child.returncode, out, err[-3000:])
    before, after = FIGURES[kind]
    async with await Database.open(db_path) as db:
        rig = DeskRig(db, state=load_state(state_file))
        await rig.ops.startup()  # the restarted daemon, the card not yet at the desk
        left = await store.open_operations(db)
        assert all(o.state.value == "written" for o in left), [(o.state, o.resolution) for o in left]
        if step in ("written", "applied"):
            assert [o.kind for o in left] == [kind]
            assert any(a[1] == "desk_pending" for a in rig.rules.alarms.raised)
        await rig.run(m.DeskRead(), BOSS)  # the card inserted again: settled from what it shows
        assert await store.open_operations(db) == []
        balance = rig.card.state.ep.balance
        expected_written = step in ("applied", "finished")
        assert balance == (after if expected_written else before), (step, balance)
        ops = [o for o in await store.operations(db) if o.kind == kind]
        assert [o.state.value for o in ops] == ["confirmed" if expected_written else "refused"], ops
        if not expected_written:
            op, _words, _view = await rig.run(retry(kind), BOSS)
            assert op.state.value == "confirmed"
        assert rig.card.state.ep.balance == after
        ops = [o for o in await store.operations(db) if o.kind == kind]
        assert len([o for o in ops if o.state.value == "confirmed"]) == 1
        keys = await rig.messages()
        assert len(keys) == len(set(keys))
        assert len([k for k in keys if k.endswith((":confirmed", ":refused"))]) == len(ops)
        if kind == "replace":
            old = await store.card(db, OLD)
            assert old is not None and (old.status, old.replaced_by) == ("replaced", rig.card.state.asn)
