"""Child process of the crash test: stores records in a loop, printing each POS_TTC once acknowledged.

Usage: python crash_child.py DB FIRST_POS_TTC. "Acknowledged" means `store_record` returned, exactly
when the daemon would send the 0x32 ack. The parent kills this process with SIGKILL at a random point.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `support`, as pytest has it

from storage_testkit import make_record

from storage.db import Database
from storage.journal import Journal
from storage.outbox import OutboxMessage


async def main(path: str, first: int) -> None:
    db = await Database.open(path)
    journal = Journal(db)
    pos_ttc = first
    while True:
        record, raw = make_record(pos_ttc, amn=pos_ttc % 100_000)
        message = OutboxMessage("station/crash/tx", f"crash/{pos_ttc}", raw)
        await journal.store_record(
            "crash", 1, record, raw, received_at=dt.datetime.now(dt.UTC), outbox=[message]
        )
        print(pos_ttc, flush=True)
        pos_ttc += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
