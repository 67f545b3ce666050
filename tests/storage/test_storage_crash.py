"""Crash safety: a writer killed with SIGKILL at a random point loses nothing it acknowledged.

The child (`crash_child.py`) stores records in a loop and prints each POS_TTC after `store_record`
returned, the moment the daemon would send the 0x32 ack. The parent kills it after a random number of
acknowledgements, restarts it a few numbers back (the dispenser re-sends what it did not see acked),
and finally checks that every printed POS_TTC is in the database, once, with its outbox row, and that
the file passes `integrity_check`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import signal
import subprocess
import sys
from pathlib import Path

from storage_testkit import make_record

from storage.db import Database
from storage.journal import Journal

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 6
MAX_ACKS_PER_ROUND = 150


def run_and_kill(path: Path, first: int, acks_before_kill: int) -> list[int]:
    """Start the child at `first`, SIGKILL it after `acks_before_kill` acks; every POS_TTC it printed."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), str(first)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    printed: list[int] = []
    try:
        while len(printed) < acks_before_kill:
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                raise AssertionError(f"child exited early ({proc.returncode}): {proc.stderr.read()}")
            printed.append(int(line))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Acknowledgements printed between our last read and the kill are still in the pipe.
        printed.extend(int(token) for token in proc.stdout.read().split())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return printed


async def verify(path: Path, acked: set[int]) -> None:
    db = await Database.open(path)  # recovery from the WAL, as the restarted daemon does
    try:
        assert await db.integrity_check() == []
        rows = await db.fetchall("SELECT pos_ttc, raw, conflict_of FROM transactions WHERE line = 'crash'")
        originals = [int(r["pos_ttc"]) for r in rows if r["conflict_of"] is None]
        assert len(originals) == len(set(originals)) == len(rows)  # no conflicts, no doubles
        missing = acked - set(originals)
        assert not missing, f"acknowledged but lost: {sorted(missing)[:20]}"
        for row in rows:  # what is stored is what was sent
            assert bytes(row["raw"]) == make_record(int(row["pos_ttc"]), amn=int(row["pos_ttc"]) % 100_000)[1]
        keys = {str(r[0]) for r in await db.fetchall("SELECT key FROM outbox")}
        assert keys == {f"crash/{n}" for n in originals}  # every record has its outbox row, and only those
        # The journal keeps working after the crashes: the next re-send is a duplicate.
        top = max(originals)
        rec, raw = make_record(top, amn=top % 100_000)
        result = await Journal(db).store_record("crash", 1, rec, raw, received_at=dt.datetime.now(dt.UTC))
        assert result.outcome == "duplicate"
    finally:
        await db.close()


def test_sigkilled_writer_loses_no_acknowledged_record(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    path = tmp_path / "crash.db"
    acked: set[int] = set()
    first = 1
    for _ in range(ROUNDS):
        printed = run_and_kill(path, first, rng.randint(1, MAX_ACKS_PER_ROUND))
        assert printed == list(range(first, first + len(printed))), f"seed {seed}"
        acked.update(printed)
        first = max(printed) + 1 - rng.randint(0, 3)  # the dispenser re-sends a few
    asyncio.run(verify(path, acked))
