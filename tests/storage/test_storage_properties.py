"""Property: any sequence of stores (repeats, conflicts, interleaved keys) keeps exactly one original per
key, whose raw is the first one stored, and each distinct byte string at most once."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_testkit import RECEIVED, make_record

from storage.db import Database
from storage.journal import Journal, StoreOutcome
from storage.outbox import Outbox, OutboxMessage

KEYS = [("bus1", 1, 1), ("bus1", 1, 2), ("bus1", 2, 1), ("bus2", 1, 1)]
# One operation: which key, which of three byte variants of its record.
operations = st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 2)), max_size=25)


async def check(ops: list[tuple[tuple[str, int, int], int]], folder: Path) -> None:
    db = await Database.open(folder / "prop.db")
    try:
        journal = Journal(db)
        first_variant: dict[tuple[str, int, int], int] = {}
        seen: dict[tuple[str, int, int], list[int]] = {}
        for key, variant in ops:
            line, dispenser, pos_ttc = key
            record, raw = make_record(pos_ttc, amn=1000 + variant)
            message = OutboxMessage("t", f"{key}/{variant}", raw)
            result = await journal.store_record(
                line, dispenser, record, raw, received_at=RECEIVED, outbox=[message]
            )
            variants = seen.setdefault(key, [])
            if not variants:
                expected = StoreOutcome.NEW
                first_variant[key] = variant
            elif variant in variants:
                expected = StoreOutcome.DUPLICATE
            else:
                expected = StoreOutcome.CONFLICT
            assert result.outcome is expected
            if variant not in variants:
                variants.append(variant)

        for key in KEYS:
            rows = await journal.records(*key)
            originals = [r for r in rows if r.conflict_of is None]
            if key not in seen:
                assert rows == []
                continue
            assert len(originals) == 1
            assert originals[0].raw == make_record(key[2], amn=1000 + first_variant[key])[1]
            assert [r.raw for r in rows] == [make_record(key[2], amn=1000 + v)[1] for v in seen[key]]
            assert all(r.conflict_of == originals[0].id for r in rows[1:])
        queued = {m.key for _, m in await Outbox(db).peek(1000)}
        assert queued == {f"{key}/{v}" for key, variants in seen.items() for v in variants}
    finally:
        await db.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_one_original_per_key_first_wins(ops: list[tuple[tuple[str, int, int], int]]) -> None:
    with tempfile.TemporaryDirectory(prefix="journal-prop-") as tmp:
        asyncio.run(check(ops, Path(tmp)))
