"""The local card rules on the wire, end to end: the real daemon against the simulator over ptys.

- `test_card_rules_on_the_wire`: lists, grey records of another station and a calendar imported with
  `station lists import` (no daemon yet: applied directly), then a scripted shift: a blacklisted card,
  a white-listed and a non-white-listed employee card, an expired-cylinder CNG card, a card over its
  daily fill limit, a grey card unlocked at the same dispenser, and two cards locked at another station:
  one refused before the delay, one unlocked after it. Each outcome is checked in the simulator's ledger
  AND in the stored decisions.
- `test_price_change_reaches_every_dispenser`: `station prices import` while the daemon runs (through its
  inbox); every dispenser downloads the new table and confirms it with a T_TYPE 8 record.
- `test_list_swap_under_load`: a 1 000 000-entry list replaces the old one while 0x36 queries are being
  answered; every answer is the one of the list generation it recorded — old or new, never a mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Station, wait_until

pytestmark = pytest.mark.e2e

SIM_OPTIONS = ("--rate", "0", "--fuel-speed", "3000", "--p2p-interval-ms", "100", "--seed", "11")

BLACK = "10000101100000000101"
STAFF_OK = "10000403200000000007"  # employee cards of another province: the dispenser always asks 0x36
STAFF_NO = "10000403200000000008"
CNG_EXPIRED = "10000101100000000501"
CNG_LIMIT = "10000101100000000502"
GREY_SAME = "10000101100000000201"
GREY_BEFORE = "10000101100000000202"
GREY_AFTER = "10000101100000000203"
OTHER_STATION = "00000077"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station.create(tmp_path)
    yield st
    st.stop()


def cli(station: Station, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "edge.cli", *args, "--config", str(station.config)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def decisions(station: Station) -> list[dict[str, Any]]:
    path = station.dir / "station.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM decisions ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def query(station: Station, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"{(station.dir / 'station.db').resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def step(action: str, line: str, dispenser: int, nozzle: int, **extra: Any) -> str:
    fields = {"at_s": 2, "line": line, "dispenser": dispenser, "nozzle": nozzle, "action": action, **extra}
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in fields.items())
    return f"[[timeline]]\n{body}\n"


def scenario(now: dt.datetime) -> str:
    before = (now - dt.timedelta(minutes=1)).replace(microsecond=0)
    after = (now - dt.timedelta(days=10)).replace(microsecond=0)
    cards = f"""
[[cards]]
asn = "{BLACK}"
kind = "user"
balance = 100000

[[cards]]
asn = "{STAFF_OK}"
kind = "employee"

[[cards]]
asn = "{STAFF_NO}"
kind = "employee"

[[cards]]
asn = "{CNG_EXPIRED}"
kind = "cng"
balance = 30000
cng = {{ card_class = 1, mode = "prepaid_amount", cylinder_valid_until = "2020-01-31", plate = "京C54321" }}

[[cards]]
asn = "{CNG_LIMIT}"
kind = "cng"
balance = 30000
cng = {{ card_class = 1, mode = "prepaid_amount", cylinder_valid_until = "2030-06-30", fills_per_day = 1 }}

[[cards]]
asn = "{GREY_SAME}"
kind = "user"
balance = 100000

[[cards]]
asn = "{GREY_BEFORE}"
kind = "user"
balance = 80000
grey = {{ amount = 1500, at = "{before.isoformat()}", station = "{OTHER_STATION}", dispenser = 3, ctc = 5 }}

[[cards]]
asn = "{GREY_AFTER}"
kind = "user"
balance = 80000
grey = {{ amount = 2500, at = "{after.isoformat()}", station = "{OTHER_STATION}", dispenser = 3, ctc = 9 }}
"""
    steps = [
        # bus1 (multi-drop): lists, employees, grey cards
        step("insert_card", "bus1", 1, 1, card=BLACK),
        step("pull_card", "bus1", 1, 1),
        step("on_duty", "bus1", 2, 3, card=STAFF_OK),
        step("on_duty", "bus1", 2, 4, card=STAFF_NO),  # refused: nozzle 4 is not used again
        step("insert_card", "bus1", 3, 5, card=GREY_SAME),
        step("lift", "bus1", 3, 5),
        step("fuel", "bus1", 3, 5, amount=3000),
        step("pull_card", "bus1", 3, 5),  # nozzle still up, 30.00 owed: a grey record
        step("hang_up", "bus1", 3, 5),
        step("insert_card", "bus1", 3, 5, card=GREY_SAME),  # back at the same dispenser: unlocked
        step("pull_card", "bus1", 3, 5),
        step("insert_card", "bus1", 1, 2, card=GREY_BEFORE),
        step("pull_card", "bus1", 1, 2),
        step("insert_card", "bus1", 1, 2, card=GREY_AFTER),
        step("pull_card", "bus1", 1, 2),
        # p2p1 (point-to-point: the card report comes before the 0x36): CNG profiles
        step("insert_card", "p2p1", 4, 7, card=CNG_EXPIRED),
        step("pull_card", "p2p1", 4, 7),
        step("insert_card", "p2p1", 4, 7, card=CNG_LIMIT),
        step("lift", "p2p1", 4, 7),
        step("fuel", "p2p1", 4, 7, amount=2000),
        step("hang_up", "p2p1", 4, 7),
        step("pull_card", "p2p1", 4, 7),
        step("insert_card", "p2p1", 4, 7, card=CNG_LIMIT),  # second fill today: over the limit
        step("pull_card", "p2p1", 4, 7),
    ]
    return cards + "\n" + "\n".join(steps)


def write_imports(directory: Path, now: dt.datetime) -> dict[str, Path]:
    before = (now - dt.timedelta(minutes=1)).replace(microsecond=0)
    after = (now - dt.timedelta(days=10)).replace(microsecond=0)
    black = directory / "base.txt"
    black.write_text(
        "kind = base\nversion = 5\nvalid_from = 2024-01-01\nvalid_to = 2099-12-31\narea = 0x11\n\n"
        f"10000101100000000009\n{BLACK}\n10000101100000000900\n"
    )
    white = directory / "white.txt"
    white.write_text(
        "kind = white\nversion = 3\nvalid_from = 2024-01-01\nvalid_to = 2099-12-31\narea = 0x11\n\n"
        f"10000403200000000001\n{STAFF_OK}\n"
    )

    def grey(card: str, bal: int, ctc: int, at: dt.datetime, amn: int) -> str:
        return (
            f'[[records]]\nstation = "{OTHER_STATION}"\nprovince = "11"\nline = "bus1"\ndispenser = 3\n'
            f'asn = "{card}"\nbal = {bal}\nctc = {ctc}\ntime = {at.isoformat()}\namn = {amn}\n'
            f'gmac = 305419896\npsam_tid = "A1A2A3A4A5A6"\npsam_ttc = 77\n'
        )

    greys = directory / "greys.toml"
    greys.write_text(
        grey(GREY_BEFORE, 80_000, 5, before, 1500) + "\n" + grey(GREY_AFTER, 80_000, 9, after, 2500)
    )
    calendar = directory / "calendar.toml"
    calendar.write_text('holidays = ["2030-10-01", "2030-10-02"]\nshifted_working_days = ["2030-09-29"]\n')
    return {"base": black, "white": white, "grey": greys, "calendar": calendar}


def card_events(events: list[dict[str, Any]], asn: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("asn") == asn and e["event"] in ("card", "list_query", "grey_query")]


def test_card_rules_on_the_wire(station: Station) -> None:
    now = dt.datetime.now()
    files = write_imports(station.dir, now)
    for name in ("base", "white", "grey", "calendar"):
        result = cli(station, "lists", "import", str(files[name]))
        assert "nothing changed" not in result.stderr
    shown = json.loads(cli(station, "lists", "show", "--json").stdout)
    assert shown["lists"]["kinds"]["base"]["version"] == 5 and shown["grey_records"] == 2
    assert shown["calendar"]["holidays"] == ["2030-10-01", "2030-10-02"]
    # A second import of the same version is refused and changes nothing.
    again = cli(station, "lists", "import", str(files["base"]), check=False)
    assert again.returncode == 2 and "not newer" in again.stderr

    path = station.dir / "rules-scenario.toml"
    path.write_text(scenario(now))
    station.start_sim(*SIM_OPTIONS, "--scenario", str(path), "--exit-when-acked")
    station.start_daemon()
    wait_until(lambda: not station.sim.alive(), 55, "the scenario to finish and every record to be acked")  # type: ignore[union-attr]
    assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-3000:]
    events = station.ledger_events()
    errors = [e for e in events if e["event"] == "action_error"]
    assert not errors, errors
    stored = decisions(station)

    def ledger_outcome(asn: str) -> list[tuple[str, str]]:
        return [(e["decision"], e["reason_name"]) for e in events if e["event"] == "card" and e["asn"] == asn]

    def stored_outcome(asn: str) -> list[tuple[str, bool, str]]:
        return [(d["kind"], bool(d["allowed"]), d["reason_name"]) for d in stored if d["asn"] == asn]

    # Blacklisted: refused on 0x36 with the reason in M_FLAG bits 7..1.
    assert ledger_outcome(BLACK) == [("refused", "BLACKLISTED")]
    [query_event] = [e for e in card_events(events, BLACK) if e["event"] == "list_query"]
    assert query_event["m_flag"] == 4 << 1 and query_event["refused"]
    assert stored_outcome(BLACK) == [("0x36", False, "BLACKLISTED")]
    # Employee cards: white-listed goes on duty, the other is refused.
    assert ledger_outcome(STAFF_OK) == [("allowed", "NONE")]
    assert ledger_outcome(STAFF_NO) == [("refused", "NOT_WHITELISTED")]
    assert stored_outcome(STAFF_OK) == [("0x36", True, "NONE")]
    assert stored_outcome(STAFF_NO) == [("0x36", False, "NOT_WHITELISTED")]
    assert any(e["event"] == "record" and e["t_type"] == 0x05 for e in events)  # the on-duty record
    # CNG: the expired cylinder is refused; the daily fill limit refuses the second fill.
    assert ledger_outcome(CNG_EXPIRED) == [("refused", "CYLINDER_EXPIRED")]
    assert stored_outcome(CNG_EXPIRED) == [("0x36", False, "CYLINDER_EXPIRED")]
    assert ledger_outcome(CNG_LIMIT) == [("allowed", "NONE"), ("refused", "FILLS_PER_DAY_REACHED")]
    assert stored_outcome(CNG_LIMIT) == [("0x36", True, "NONE"), ("0x36", False, "FILLS_PER_DAY_REACHED")]
    # Grey card pulled mid-sale, back at the same dispenser: the grey record is given, the debit made.
    assert ledger_outcome(GREY_SAME) == [("allowed", "NONE"), ("allowed", "NONE"), ("grey_unlocked", "NONE")]
    [grey_same] = [e for e in events if e["event"] == "grey_query" and e["asn"] == GREY_SAME]
    assert grey_same["found"] and grey_same["amn"] == 3000
    assert stored_outcome(GREY_SAME)[-1] == ("0x35", True, "NONE")
    [same] = [d for d in stored if d["asn"] == GREY_SAME and d["kind"] == "0x35"]
    assert json.loads(same["details"])["grey_unlock"]["rule"] == "same_dispenser"
    # Locked at another station a minute ago: refused until the delay is over, with the moment.
    [before] = [e for e in events if e["event"] == "grey_query" and e["asn"] == GREY_BEFORE]
    assert not before["found"]
    assert stored_outcome(GREY_BEFORE) == [("0x36", True, "NONE"), ("0x35", False, "GREY_WAIT_DELAY")]
    [refusal] = [d for d in stored if d["asn"] == GREY_BEFORE and d["kind"] == "0x35"]
    assert json.loads(refusal["details"])["grey_unlock"]["unlockable_from"] > now.isoformat()
    # Locked there ten days ago: unlocked here, with the centre's amount and GMAC.
    [after] = [e for e in events if e["event"] == "grey_query" and e["asn"] == GREY_AFTER]
    assert after["found"] and after["amn"] == 2500
    assert ledger_outcome(GREY_AFTER)[-1] == ("grey_unlocked", "NONE")
    assert stored_outcome(GREY_AFTER) == [("0x36", True, "NONE"), ("0x35", True, "NONE")]
    # The 0x35 decisions of the centre's records say so.
    assert json.loads([d for d in stored if d["asn"] == GREY_AFTER][-1]["details"])["grey_source"] == "centre"
    # Every stored 0x36 decision's M_FLAG is what the dispenser received.
    for e in (e for e in events if e["event"] == "list_query"):
        assert any(d["asn"] == e["asn"] and d["m_flag"] == e["m_flag"] for d in stored), e


def test_price_change_reaches_every_dispenser(station: Station) -> None:
    station.start_sim(*SIM_OPTIONS)
    station.start_daemon()
    wait_until(lambda: (station.dir / "inbox").is_dir(), 30, "the daemon to watch its inbox")
    bad = station.dir / "bad-prices.toml"
    bad.write_text(
        'version = 2\neffective = "2026-13-01 06:00"\n[[products]]\ng_code = "0099"\nprices = [1]\n'
    )
    refused = cli(station, "prices", "import", str(bad), check=False)
    assert refused.returncode == 2
    assert "line 2: effective" in refused.stderr and "product 0099 is not in the station" in refused.stderr
    effective = (dt.datetime.now() - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    good = station.dir / "prices.toml"
    good.write_text(
        f'version = 2\neffective = "{effective:%Y-%m-%d %H:%M}"\n'
        '[[products]]\ng_code = "0092"\nprices = [760, 750, 740]\n'
        "[[nozzles]]\nnzn = 7\nprices = [777]\n"
    )
    result = cli(station, "prices", "import", str(good))
    assert "price table version 2" in result.stdout and "handed over" in result.stderr  # through the inbox
    dispensers = {("bus1", 1), ("bus1", 2), ("bus1", 3), ("p2p1", 4)}

    def confirmed() -> bool:
        rows = query(station, "SELECT line, dispenser FROM price_receipts WHERE version = 2")
        return {(r["line"], r["dispenser"]) for r in rows} == dispensers

    wait_until(confirmed, 50, "every dispenser to confirm price table 2")
    downloads = [
        e
        for e in station.ledger_events()
        if e["event"] == "download" and e["content"] == 4 and e["version"] == 2
    ]
    assert {(e["line"], e["dispenser"]) for e in downloads} == dispensers
    assert not [e for e in downloads if "error" in e]
    shown = json.loads(cli(station, "prices", "show", "--json").stdout)
    assert shown["in_force"] == 2
    assert all(r["received_at"] for r in shown["receipts"])


# --- list swap under load ---------------------------------------------------------------------------

SWAP_ENTRIES = 1_000_000


def _big_list(path: Path, version: int, start: int, step: int, count: int) -> None:
    """A sorted base list of `count` user cards of province 11: serials start, start+step, …"""
    numbers = "\n".join(f"10000101100{n:09d}" for n in range(start, start + step * count, step))
    path.write_text(
        f"kind = base\nversion = {version}\nvalid_from = 2024-01-01\nvalid_to = 2099-12-31\narea = 0x11\n\n"
        + numbers
        + "\n"
    )


@contextlib.asynccontextmanager
async def build_authority(tmp: Path, lists: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The daemon's authority over a real database and list store (no lines)."""
    from edge.authority import CalendarHolder, RulesAuthority
    from edge.cardfacts import CardCache
    from edge.counters import CounterBook
    from edge.decisions import DecisionRecorder
    from edge.events import EventBus
    from edge.greys import GreyFinder, StationPlace
    from edge.rules import RulesConfig
    from storage.counters import CounterStore
    from storage.db import Database
    from storage.decisions import DecisionLog
    from storage.greys import RemoteGreyStore
    from storage.journal import Journal

    db = await Database.open(tmp / "station.db")
    try:
        place = StationPlace("00000042", 0x11)
        log = DecisionLog(db)
        authority = RulesAuthority(
            lists=lists,
            greys=GreyFinder(Journal(db), RemoteGreyStore(db), place),
            recorder=DecisionRecorder(log, EventBus()),
            counters=CounterBook(CounterStore(db), dt.datetime.now),
            cards=CardCache(600),
            station=place,
            config=RulesConfig(),
            calendar=CalendarHolder(),
        )
        yield authority, log
    finally:
        await db.close()


async def test_list_swap_under_load(tmp_path: Path) -> None:
    from edge.session import Where
    from protocol.messages import CardInserted, ListQuery
    from protocol.reasons import decode_m_flag
    from storage.lists import ListStore

    old_file, new_file = tmp_path / "old.txt", tmp_path / "new.txt"
    _big_list(old_file, 1, 0, 2, 1000)  # even serials 0..1998 blacklisted
    _big_list(new_file, 2, 1, 2, SWAP_ENTRIES)  # odd serials blacklisted, a million of them
    probes = [f"10000101100{n:09d}" for n in range(0, 1000)]

    def expected(generation: int, card: str) -> bool:
        serial = int(card[11:])
        return serial % 2 == 0 if generation == 1 else serial % 2 == 1

    store = ListStore.open(tmp_path / "lists")
    try:
        store.import_file(old_file)
        async with build_authority(tmp_path, store) as (authority, log):
            swap = asyncio.create_task(asyncio.to_thread(store.import_file, new_file))
            answers: list[tuple[str, bool]] = []
            i = after_swap = 0
            while after_swap < 200:  # queries all through the import, and 200 more after it
                after_swap += swap.done()
                card = probes[i % len(probes)]
                authority.on_card("bus1", 1, CardInserted(1, card, 0, 50_000))  # its report first (B1)
                reply = await authority.list_query(Where("bus1", 1), ListQuery(card))
                refused, _ = decode_m_flag(reply.m_flag)
                answers.append((card, refused))
                i += 1
                await asyncio.sleep(0)
            lists = await swap
            assert lists.generation == 2
            rows = await log.all()
    finally:
        store.close()
    assert len(rows) == len(answers)
    generations = [row.generation for row in rows]
    assert set(generations) == {1, 2}, "the swap did not happen while queries were answered"
    assert generations == sorted(generations), "an answer went back to the old list after the swap"
    for (card, refused), row in zip(answers, rows, strict=True):
        assert row.asn == card
        assert refused == expected(row.generation, card), (card, row.generation)
