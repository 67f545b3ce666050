"""Housekeeping: its configuration (every problem at once), the daily schedule, the scheduled backup in the
daemon (and the alarm when it fails), backup rotation, and `station doctor`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, load_config
from edge.daemon import open_station
from edge.housekeeping import housekeeping_task, next_due
from edge.housekeeping_config import parse_housekeeping
from storage.backups import create_backup, list_backups, verify_backup
from storage.reports.periods import DayBoundary

CONFIG = """\
[station]
id = "T1"

[storage]
database = "station.db"

[[products]]
g_code = "0092"
name = "92#"

[[lines]]
name = "bus1"
url = "/dev/ttyNOPE-{tag}"
mode = "multi-drop"

[[lines.dispensers]]
pos_p = 1
nozzles = [{{ nzn = 1, g_code = "0092" }}]
"""


def test_every_problem_of_both_tables_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_housekeeping(
            {"day_boundary": "25:00", "colour": 1},
            {"backup_keep": 0, "backup_at": 330, "archive_after_days": "90", "archive_database": ""},
            "s.toml",
        )
    text = "\n".join(info.value.problems)
    for key in ("reports.day_boundary", "reports.colour", "housekeeping.backup_keep", "housekeeping.backup_at",
                "housekeeping.archive_after_days", "housekeeping.archive_database"):  # fmt: skip
        assert f"s.toml: {key}:" in text, key
    ok = parse_housekeeping(
        {"day_boundary": "06:30"}, {"backup_at": "", "archive_at": "04:00"}, base=Path("/x")
    )
    assert ok.day_boundary == DayBoundary(6, 30) and ok.backup_at is None and ok.archive_at == DayBoundary(4)
    assert ok.backup_dir == Path("/x/backups") and ok.archive_database == Path("/x/archive.db")


@pytest.mark.parametrize(
    ("at", "now", "due"),
    [
        (DayBoundary(3, 30), dt.datetime(2026, 12, 3, 1, 0), dt.datetime(2026, 12, 3, 3, 30)),
        (DayBoundary(3, 30), dt.datetime(2026, 12, 3, 3, 30), dt.datetime(2026, 12, 4, 3, 30)),
        (
            DayBoundary(23, 59, 59),
            dt.datetime(2026, 12, 31, 23, 59, 59, 1),
            dt.datetime(2027, 1, 1, 23, 59, 59),
        ),
    ],
)
def test_next_due(at: DayBoundary, now: dt.datetime, due: dt.datetime) -> None:
    assert next_due(at, now) == due


async def test_the_daemon_backs_up_at_its_time_and_alarms_when_it_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge.housekeeping as hk

    ran = asyncio.Event()
    original = hk.run_job

    async def observed(station: object, job: hk.Job) -> bool:
        ok = await original(station, job)  # type: ignore[arg-type]
        ran.set()
        return ok

    monkeypatch.setattr(hk, "run_job", observed)
    (tmp_path / "station.toml").write_text(
        CONFIG.format(tag="a") + '\n[housekeeping]\nbackup_at = "03:30"\nbackup_keep = 2\n'
    )
    station = await open_station(load_config(tmp_path / "station.toml"))
    times = iter([dt.datetime(2026, 12, 3, 3, 29, 59, 900_000)] + [dt.datetime(2026, 12, 3, 3, 30, 1)] * 5)
    task = asyncio.create_task(
        housekeeping_task(station, clock=lambda: next(times, dt.datetime(2026, 12, 3, 3, 30, 2)))
    )
    try:
        await asyncio.wait_for(ran.wait(), 60)
    finally:
        task.cancel()
    sets = list_backups(tmp_path / "backups")
    assert len(sets) == 1 and verify_backup(sets[0].path)["schema"] >= 140
    assert (sets[0].path / "config" / "station.toml").is_file()

    # a backup folder that cannot be written: the alarm says so
    (tmp_path / "blocked").write_text("a file, not a folder")
    from edge.housekeeping import Job, run_job
    from storage.backups import create_backup as make

    job = Job(
        "backup",
        DayBoundary(3),
        lambda: str(make(station.config.storage.database, tmp_path / "blocked" / "x")),
    )
    assert await run_job(station, job) is False
    active = [(a.source, a.code) for a in await station.alarms.active()]
    assert ("housekeeping", "backup_failed") in active
    await station.db.close()


async def test_rotation_keeps_the_newest_sets(tmp_path: Path) -> None:
    from storage.db import Database

    db = await Database.open(tmp_path / "station.db")
    await db.close()
    made = [
        create_backup(
            tmp_path / "station.db", tmp_path / "b", now=dt.datetime(2026, 12, d, tzinfo=dt.UTC), keep=2
        ).path
        for d in (1, 2, 3)
    ]
    assert [s.path for s in list_backups(tmp_path / "b")] == made[1:]


def test_doctor_names_each_problem_and_exits_with_the_worst(tmp_path: Path) -> None:
    (tmp_path / "station.toml").write_text(CONFIG.format(tag="b"))
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "doctor", "--config", str(tmp_path / "station.toml"), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    doc = json.loads(result.stdout)
    assert result.returncode == 2 and doc["status"] == "fail"
    by_name = {c["name"]: c for c in doc["checks"]}
    assert (
        by_name["serial devices"]["level"] == "fail"
        and "/dev/ttyNOPE-b" in by_name["serial devices"]["detail"]
    )
    assert by_name["config"]["level"] == "ok"
    assert by_name["database"]["level"] == "warn"  # not created yet
    assert {"disk space", "certificate", "backup"} <= set(by_name)
    text = subprocess.run(
        [sys.executable, "-m", "edge.cli", "doctor", "--config", str(tmp_path / "station.toml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "[FAIL] serial devices" in text.stdout and "overall: fail" in text.stdout
