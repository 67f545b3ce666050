"""Child process of the desk kill test: one money write on a card kept in a state file, SIGKILLed at
the step named by STATION_FAULT_DESK_KILL_AT (edge.devices.desk.cardops). Not a test module.

    python desk_kill_child.py DB STATE_FILE KIND
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from desk_testkit import BOSS, DeskRig, topup
from station_sim.card.state import save_state

from edge.control import messages as m
from storage import desk as store
from storage.db import Database
from storage.greys import RemoteGrey

OLD = "10000101100000000017"
NOW = dt.datetime(2026, 1, 14, 2, 0, tzinfo=dt.UTC)
CARD_OF = {"topup": "taxi", "unlock": "grey", "replace": "blank"}


async def main(db_path: Path, state_file: Path, kind: str) -> None:
    async with await Database.open(db_path) as db:
        rig = DeskRig(db, CARD_OF[kind], state_file)
        if kind == "unlock":
            access = await rig.reader.open()
            await access.read_issuer()
            grey = await access.read_grey()
            assert grey.locked_at is not None
            await rig.rules.remote.replace_all([
                RemoteGrey(asn=rig.card.state.asn, bal=grey.balance, ctc=grey.offline_counter, ds=0,
                           time=grey.locked_at, amn=2_000, gmac=0, psam_tid=bytes(6), psam_ttc=1,
                           station_id="00000042", province=0x11, dispenser=3),
            ])  # fmt: skip
            request: object = m.DeskUnlock()
        elif kind == "replace":
            async with db.transaction() as tx:
                await store.put_card_in(tx, store.CardRow(OLD, "cng", holder="Wang"), actor="boss", now=NOW)
                await store.note_balance_in(tx, OLD, 50_000, now=NOW)
                await store.set_status_in(tx, OLD, "lost", actor="boss", now=NOW)
            request = m.DeskReplace(old_asn=OLD)
        else:
            request = topup(12_345)
        save_state(state_file, rig.card.state)  # the starting state on file
        await rig.run(request, BOSS)
        print("finished without being killed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
