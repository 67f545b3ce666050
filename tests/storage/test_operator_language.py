"""Operators' own language: stored, validated, set by `station operators`, carried in the login."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import operators as ops
from storage.db import Database

NOW = dt.datetime(2026, 12, 2, 6, 30, tzinfo=dt.UTC)


async def test_language_is_stored_and_normalised(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "station.db")
    try:
        async with db.transaction() as tx:
            await ops.add_in(tx, "li", "operator", "x", now=NOW)
            await ops.add_in(tx, "engineer", "vendor", "x", now=NOW, language="en_US")
        store = ops.OperatorStore(db)
        assert (await store.get("li")).language == ""  # type: ignore[union-attr]
        assert (await store.get("engineer")).language == "en"  # type: ignore[union-attr]
        async with db.transaction() as tx:
            assert await ops.set_language_in(tx, "li", "zh") == "zh_CN"
        assert (await store.get("li")).language == "zh_CN"  # type: ignore[union-attr]
        async with db.transaction() as tx:
            with pytest.raises(ops.OperatorError, match="unknown language"):
                await ops.set_language_in(tx, "li", "fr")
            with pytest.raises(ops.OperatorError, match="no operator"):
                await ops.set_language_in(tx, "nobody", "en")
    finally:
        await db.close()


def run_cli(db: Path, *args: str, stdin: str = "", language: str = "en") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATION_LANGUAGE": language}
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "operators", "--db", str(db), *args],
        input=stdin, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_station_operators_language(tmp_path: Path) -> None:
    db = tmp_path / "station.db"
    added = run_cli(db, "add", "engineer", "--role", "vendor", "--language", "en", "--password-stdin",
                    stdin="Field-engineer-2026\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = run_cli(db, "list")
    assert "engineer" in listed.stdout and " en " in listed.stdout
    back = run_cli(db, "language", "engineer", "station")
    assert back.returncode == 0, back.stderr
    assert "station language" in back.stdout
    wrong = run_cli(db, "language", "engineer", "fr")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
    missing = run_cli(db, "language", "nobody", "en")
    assert missing.returncode == 1 and "no operator" in missing.stderr


def test_station_operators_speaks_chinese_by_default(tmp_path: Path) -> None:
    db = tmp_path / "station.db"
    added = run_cli(db, "add", "xiaoli", "--role", "operator", "--password-stdin", stdin="Pump-2026!\n",
                    language="")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "已添加操作员 xiaoli（operator）"
    locked = run_cli(db, "lock", "xiaoli", language="")
    assert locked.stdout.strip() == "xiaoli 已锁定"
    listed = run_cli(db, "list", language="zh_CN").stdout.splitlines()
    assert listed[0].split() == ["用户名", "角色", "状态", "失败", "卡", "语言", "姓名"]
    assert listed[1].split()[:5] == ["xiaoli", "operator", "已锁定", "0", "无"]
