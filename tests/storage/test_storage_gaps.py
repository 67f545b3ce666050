"""Gap tracking: missing POS_TTCs opened, asked for, filled by a later record or closed as absent."""

from __future__ import annotations

from storage_testkit import RECEIVED, FakeClock, MakeRecord

from storage.alarms import Alarms
from storage.db import Database
from storage.journal import JUMP_ALARM_CODE, Journal, alarm_source


async def store(journal: Journal, record: MakeRecord, pos_ttc: int, dispenser: int = 1) -> list[int]:
    rec, raw = record(pos_ttc)
    await journal.store_record("bus1", dispenser, rec, raw, received_at=RECEIVED)
    return await journal.note_gaps("bus1", dispenser, pos_ttc)


async def test_first_contact_opens_no_gaps(journal: Journal, record: MakeRecord) -> None:
    assert await store(journal, record, 500) == []
    assert await journal.gap_states("bus1", 1) == {}


async def test_consecutive_records_open_no_gaps(journal: Journal, record: MakeRecord) -> None:
    for n in (10, 11, 12):
        assert await store(journal, record, n) == []


async def test_jump_opens_gaps_then_fill_absent_and_attempts(
    journal: Journal, record: MakeRecord, clock: FakeClock
) -> None:
    await store(journal, record, 10)
    assert await store(journal, record, 15) == [11, 12, 13, 14]
    assert await store(journal, record, 15, dispenser=2) == []  # another dispenser: first contact
    assert await journal.open_gaps("bus1", 1, 10) == [11, 12, 13, 14]
    assert await journal.open_gaps("bus1", 1, 2) == [11, 12]

    # A later record fills its gap (and, being below the highest, opens none).
    assert await store(journal, record, 12) == []
    # The dispenser has no record 13 (0x3F).
    await journal.mark_gap_absent("bus1", 1, 13)
    assert await journal.gap_states("bus1", 1) == {11: "open", 12: "filled", 13: "absent", 14: "open"}

    # Attempts are counted; the least recently tried gap comes last.
    clock.advance(seconds=1)
    assert await journal.gap_attempt("bus1", 1, 11) == 1
    clock.advance(seconds=1)
    assert await journal.gap_attempt("bus1", 1, 11) == 2
    assert await journal.gap_attempt("bus1", 1, 12) == 0  # filled: not counted
    assert await journal.open_gaps("bus1", 1, 10) == [14, 11]
    clock.advance(seconds=1)
    await journal.gap_attempt("bus1", 1, 14)
    assert await journal.open_gaps("bus1", 1, 10) == [11, 14]

    # Re-noting the same jump does not reopen closed gaps.
    assert await journal.note_gaps("bus1", 1, 15) == []
    assert (await journal.gap_states("bus1", 1))[13] == "absent"


async def test_absent_never_overrides_filled_and_late_record_fills_absent(
    journal: Journal, record: MakeRecord
) -> None:
    await store(journal, record, 1)
    await store(journal, record, 4)
    await store(journal, record, 2)
    await journal.mark_gap_absent("bus1", 1, 2)
    assert (await journal.gap_states("bus1", 1))[2] == "filled"
    await journal.mark_gap_absent("bus1", 1, 3)
    await store(journal, record, 3)  # it turned up after all
    assert await journal.gap_states("bus1", 1) == {2: "filled", 3: "filled"}
    assert await journal.open_gaps("bus1", 1, 10) == []


async def test_unknown_absent_answer_is_recorded(journal: Journal) -> None:
    await journal.mark_gap_absent("bus1", 1, 99)
    assert await journal.gap_states("bus1", 1) == {99: "absent"}


async def test_a_huge_jump_opens_nothing_and_raises_an_alarm(
    db: Database, clock: FakeClock, record: MakeRecord
) -> None:
    journal = Journal(db, clock=clock, max_gap_jump=100)
    await store(journal, record, 10)
    assert await store(journal, record, 10 + 100 + 1) == [*range(11, 111)]  # exactly the bound: tracked
    assert await store(journal, record, 100_000) == []
    assert await journal.open_gaps("bus1", 1, 1000) == [*range(11, 111)]
    [alarm] = await Alarms(db).active()
    assert (alarm.source, alarm.code) == (alarm_source("bus1", 1), JUMP_ALARM_CODE)
    assert alarm.details == {"previous": 111, "pos_ttc": 100_000, "missing": 100_000 - 111 - 1}
    # Numbering continues from the new value without further alarms or gaps.
    assert await store(journal, record, 100_001) == []
    assert (await Alarms(db).active())[0].count == 1


async def test_default_bound_is_1000(journal: Journal, record: MakeRecord) -> None:
    await store(journal, record, 1)
    assert len(await store(journal, record, 1002)) == 1000
    assert await store(journal, record, 3004) == []
