"""`storage.export` and `station export transactions` (run as a real subprocess)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from storage_testkit import RECEIVED, make_record

from storage.db import Database, open_readonly
from storage.export import COLUMNS, export_transactions, iter_transactions
from storage.journal import Journal

EXPECTED_ORDER = [
    ("bus1", 1, 5, False),
    ("bus1", 1, 5, True),
    ("bus1", 1, 6, False),
    ("bus1", 2, 1, False),
    ("bus2", 1, 3, False),
]


async def fill(path: Path) -> dict[tuple[str, int, int, bool], bytes]:
    """A journal with two lines, a conflict copy and an invalid TIME; returns raw bytes by row."""
    db = await Database.open(path)
    journal = Journal(db)
    raws: dict[tuple[str, int, int, bool], bytes] = {}
    try:
        # Stored out of order: the export sorts.
        rows: list[tuple[str, int, int, dict[str, object]]] = [
            ("bus2", 1, 3, {"time": dt.datetime(2024, 5, 3, 9, 0, 0)}),
            ("bus1", 1, 6, {"time": "20249999999999"}),  # invalid TIME: event time = reception
            ("bus1", 2, 1, {"time": dt.datetime(2024, 5, 1, 7, 0, 0)}),
            ("bus1", 1, 5, {"time": dt.datetime(2024, 5, 2, 12, 0, 0)}),
            ("bus1", 1, 5, {"time": dt.datetime(2024, 5, 2, 12, 0, 0), "amn": 1}),  # conflict copy
        ]
        for line, dispenser, pos_ttc, changes in rows:
            rec, raw = make_record(pos_ttc, **changes)
            result = await journal.store_record(line, dispenser, rec, raw, received_at=RECEIVED)
            raws[(line, dispenser, pos_ttc, result.outcome == "conflict")] = raw
    finally:
        await db.close()
    return raws


@pytest.fixture
async def filled(db_path: Path) -> dict[tuple[str, int, int, bool], bytes]:
    return await fill(db_path)


def key(item: dict[str, object]) -> tuple[object, ...]:
    return (item["line"], item["dispenser"], item["pos_ttc"], item["conflict"])


def test_jsonl_objects(db_path: Path, filled: dict[tuple[str, int, int, bool], bytes]) -> None:
    out = io.StringIO()
    with closing(open_readonly(db_path)) as conn:
        assert export_transactions(conn, out) == 5
    items = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [key(i) for i in items] == EXPECTED_ORDER
    assert all(list(i) == list(COLUMNS) for i in items)
    first = items[0]
    assert first == {
        "line": "bus1",
        "dispenser": 1,
        "pos_ttc": 5,
        "t_type": 0x10,
        "time": "2024-05-02T12:00:00",
        "asn": "10000101000000012345",
        "amn": 25_000,
        "vol": 3_333,
        "prc": 750,
        "nzn": 1,
        "g_code": "0102",
        "emp": 255,
        "raw": filled[("bus1", 1, 5, False)].hex(),
        "bal": 100_000,
        "v_tot": 1_000_000,
        "conflict": False,
    }
    assert items[1]["amn"] == 1 and items[1]["raw"] == filled[("bus1", 1, 5, True)].hex()
    assert items[2]["time"] is None  # invalid TIME
    assert all(bytes.fromhex(i["raw"]) == filled[key(i)] for i in items)  # type: ignore[index]


def test_csv_rows(db_path: Path, filled: dict[tuple[str, int, int, bool], bytes]) -> None:
    out = io.StringIO()
    with closing(open_readonly(db_path)) as conn:
        assert export_transactions(conn, out, fmt="csv") == 5
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == list(COLUMNS)
    assert [(r[0], int(r[1]), int(r[2]), r[15] == "true") for r in rows[1:]] == EXPECTED_ORDER
    assert rows[1][4] == "2024-05-02T12:00:00"
    assert rows[3][4] == ""  # invalid TIME
    assert rows[1][12] == filled[("bus1", 1, 5, False)].hex()
    assert rows[2][15] == "true"


def test_since_uses_record_time_else_reception(
    db_path: Path, filled: dict[tuple[str, int, int, bool], bytes]
) -> None:
    received_local = RECEIVED.astimezone().replace(tzinfo=None)  # the event time of the invalid-TIME row
    invalid_time_row = ("bus1", 1, 6, False)
    with closing(open_readonly(db_path)) as conn:

        def since(when: dt.datetime) -> list[tuple[object, ...]]:
            return [key(i) for i in iter_transactions(conn, since=when)]

        assert since(dt.datetime(2024, 4, 1)) == EXPECTED_ORDER
        may_2 = since(dt.datetime(2024, 5, 2))
        assert [k for k in may_2 if k != invalid_time_row] == [
            ("bus1", 1, 5, False),
            ("bus1", 1, 5, True),
            ("bus2", 1, 3, False),
        ]
        assert since(dt.datetime(2024, 5, 2, 12, 0, 1)) == [("bus2", 1, 3, False)]
        assert invalid_time_row in since(received_local)
        assert invalid_time_row not in since(received_local + dt.timedelta(seconds=1))
        # An aware `since` is compared in station local time.
        assert since(dt.datetime(2024, 5, 2, 12, 0, 0).astimezone(dt.UTC))[:2] == [
            ("bus1", 1, 5, False),
            ("bus1", 1, 5, True),
        ]


# --- the command line, as a real process -----------------------------------------------------------


def station(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STATION_DB"}
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "export", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_jsonl_to_stdout(
    db_path: Path, filled: dict[tuple[str, int, int, bool], bytes], tmp_path: Path
) -> None:
    done = station("transactions", "--db", str(db_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [key(json.loads(line)) for line in done.stdout.splitlines()] == EXPECTED_ORDER


def test_cli_csv_to_file_with_since(
    db_path: Path, filled: dict[tuple[str, int, int, bool], bytes], tmp_path: Path
) -> None:
    target = tmp_path / "out" / "tx.csv"
    target.parent.mkdir()
    done = station(
        "transactions",
        "--db",
        str(db_path),
        "--format",
        "csv",
        "--since",
        "2024-05-03T00:00",
        "--output",
        str(target),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "1 transactions written" in done.stderr
    rows = list(csv.reader(target.open(newline="")))
    assert rows[0] == list(COLUMNS)
    assert [r[:3] for r in rows[1:]] == [["bus2", "1", "3"]]
    assert sorted(p.name for p in target.parent.iterdir()) == ["tx.csv"]  # no temporary left behind


def test_cli_with_config_file_relative_database(
    db_path: Path, filled: dict[tuple[str, int, int, bool], bytes], tmp_path: Path
) -> None:
    config = tmp_path / "etc" / "station.toml"
    config.parent.mkdir()
    relative = os.path.relpath(db_path, config.parent)
    config.write_text(
        f"""
[station]
id = "ST-1"
[storage]
database = "{relative}"
[[products]]
g_code = "0102"
name = "92#"
prices = [750]
[[lines]]
name = "bus1"
url = "socket://127.0.0.1:1"
mode = "multi-drop"
[[lines.dispensers]]
pos_p = 1
nozzles = [{{ nzn = 1, g_code = "0102" }}]
"""
    )
    done = station("transactions", "--config", str(config), cwd=tmp_path / "etc" / "..")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 5


def test_cli_missing_database_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "station.db"
    done = station("transactions", "--db", str(missing), cwd=tmp_path)
    assert done.returncode == 2
    assert "no database at" in done.stderr and str(missing) in done.stderr
    assert not missing.parent.exists()


def test_cli_bad_arguments_exit_2(
    db_path: Path, filled: dict[tuple[str, int, int, bool], bytes], tmp_path: Path
) -> None:
    bad_since = station("transactions", "--db", str(db_path), "--since", "yesterday", cwd=tmp_path)
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr
    no_source = station("transactions", cwd=tmp_path)
    assert no_source.returncode == 2
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[station\n")
    done = station("transactions", "--config", str(bad_config), cwd=tmp_path)
    assert done.returncode == 2 and "bad.toml" in done.stderr
