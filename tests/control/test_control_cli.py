"""`station status`, `station operators` and `station tui` (argument handling; the UI itself is in
tests/tui)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path

import pytest
from control_testkit import store

from edge.cli import build_parser
from edge.commands import operators, status, tui
from edge.control import messages as m
from edge.control.server import ControlServer
from edge.daemon import Station
from storage.audit import AuditLog
from storage.db import Database
from storage.operators import OperatorStore


def parse(*argv: str) -> object:
    return build_parser().parse_args(list(argv))


async def test_status_prints_a_summary(
    server: ControlServer,
    station: Station,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STATION_LANGUAGE", "en")  # a field engineer's shell
    await store(station.sessions["bus1"][0], 5, amn=7_500)
    args = parse("status", "--config", str(station.config.path))
    assert await asyncio.to_thread(status.run, args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Station TEST-0001 Test station — up ")
    assert "No shift open" in out
    assert "Dispensers: 0/2 online" in out
    assert "Nozzles: 4 — 1 finished, 3 offline" in out
    assert "  bus1/1/1 92#    FINISHED  ¥   75.00   10.00 L" in out
    assert "Last record: bus1/1 #5 sale ¥75.00" in out
    assert "Centre: not configured; outbox 0 messages" in out


async def test_status_speaks_the_stations_language(
    server: ControlServer,
    station: Station,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STATION_LANGUAGE", raising=False)
    await store(station.sessions["bus1"][0], 5, amn=7_500)
    args = parse("status", "--config", str(station.config.path))
    assert await asyncio.to_thread(status.run, args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("加注站 TEST-0001 Test station — 已运行 ")
    assert "当前没有开班" in out and "加注机：0/2 在线" in out
    assert "油枪：4 — 1 加注完成, 3 离线" in out
    assert "  bus1/1/1 92#    加注完成  ¥   75.00   10.00 L" in out
    assert "最近记录：bus1/1 #5 正常交易 ¥75.00" in out


async def test_status_json(server: ControlServer, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("status", "--socket", str(server.path), "--json")
    assert await asyncio.to_thread(status.run, args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["hello"]["station_id"] == "TEST-0001"
    assert len(doc["snapshot"]["nozzles"]) == 4
    assert doc["snapshot"]["uplink"] == {"state": "not configured", "outbox_depth": 0}


def test_status_when_the_daemon_is_not_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("status", "--socket", str(tmp_path / "nobody.sock"))
    assert status.run(args) == status.EXIT_NOT_RUNNING == 3
    err = capsys.readouterr().err
    assert "the station daemon is not running" in err and "nobody.sock" in err


def test_status_needs_a_socket_or_a_config() -> None:
    with pytest.raises(SystemExit):
        parse("status")


def _operators(monkeypatch: pytest.MonkeyPatch, db: Path, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return operators.run(parse("operators", "--db", str(db), *argv))


async def _rows(db_path: Path) -> tuple[list[object], list[object]]:
    db = await Database.open(db_path)
    try:
        return list(await OperatorStore(db).all()), list(await AuditLog(db).recent())
    finally:
        await db.close()


def test_operators_add_lock_unlock_passwd_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "station.db"
    assert (
        _operators(
            monkeypatch, db, "add", "boss", "--role", "admin", "--password-stdin", stdin="first-secret\n"
        )
        == 0
    )
    assert (
        _operators(monkeypatch, db, "add", "boss", "--role", "admin", "--password-stdin", stdin="other-1\n")
        == 1
    )
    assert "already exists" in capsys.readouterr().err
    assert (
        _operators(monkeypatch, db, "add", "x", "--role", "operator", "--password-stdin", stdin="short\n")
        == 1
    )
    assert "at least 6" in capsys.readouterr().err
    assert _operators(monkeypatch, db, "lock", "boss") == 0
    assert _operators(monkeypatch, db, "list", "--json") == 0
    capsys.readouterr()
    assert _operators(monkeypatch, db, "unlock", "boss") == 0
    assert _operators(monkeypatch, db, "passwd", "boss", "--password-stdin", stdin="second-secret\n") == 0
    assert _operators(monkeypatch, db, "passwd", "ghost", "--password-stdin", stdin="second-secret\n") == 1
    capsys.readouterr()
    assert _operators(monkeypatch, db, "list", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["username"] == "boss" and listed["role"] == "admin" and not listed["locked"]

    rows, audit = asyncio.run(_rows(db))
    (boss,) = rows
    assert boss.username == "boss" and boss.role == "admin" and not boss.locked  # type: ignore[attr-defined]
    from edge.auth.passwords import verify_password

    assert verify_password("second-secret", boss.password_hash)  # type: ignore[attr-defined]
    actions = [(a.action, a.source, a.outcome.value) for a in reversed(audit)]  # type: ignore[attr-defined]
    assert actions == [
        ("add_operator", "cli", "ok"), ("lock_operator", "cli", "ok"), ("unlock_operator", "cli", "ok"),
        ("set_password", "cli", "ok"),
    ]  # fmt: skip
    assert all(a.actor.startswith("cli:") for a in audit)  # type: ignore[attr-defined]


def test_operators_list_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATION_LANGUAGE", "en")
    db = tmp_path / "station.db"
    _operators(monkeypatch, db, "add", "ana", "--role", "operator", "--card", "10000411000000009001",
               "--password-stdin", stdin="secret-1\n")  # fmt: skip
    _operators(monkeypatch, db, "lock", "ana")
    capsys.readouterr()
    assert _operators(monkeypatch, db, "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["USER", "ROLE", "STATE", "FAILS", "CARD", "LANG", "NAME"]
    assert out[1].split() == ["ana", "operator", "LOCKED", "0", "yes", "-"]


def test_operators_with_config(station_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("secret-22\n"))
    args = parse(
        "operators", "--config", str(station_config), "add", "root", "--role", "vendor", "--password-stdin"
    )
    assert operators.run(args) == 0
    assert (station_config.parent / "station.db").exists()


def test_tui_command_runs_the_ui_module_on_the_configured_socket(station_config: Path) -> None:
    argv = tui.command(parse("tui", "--config", str(station_config), "--demo"))
    assert argv[1:4] == ["-m", "tui", "--socket"]
    assert argv[4] == str(station_config.parent / "ctl.sock") and argv[5] == "--demo"
    assert tui.command(parse("tui", "--socket", "/run/x.sock"))[1:] == [
        "-m",
        "tui",
        "--socket",
        "/run/x.sock",
    ]


@pytest.fixture
def station_config(tmp_path: Path) -> Path:
    from control_testkit import CONFIG

    path = tmp_path / "station.toml"
    path.write_text(CONFIG)
    return path


def test_messages_module_is_all_the_tui_imports_from_edge() -> None:
    """The terminal UI imports nothing of `edge` but the control API's message types."""
    import ast

    root = Path(__file__).resolve().parents[2] / "tui"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if node.module == "edge.control":
                    names = [f"edge.control.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("edge") and not name.startswith("edge.control.messages"):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
    assert m.PROTOCOL_VERSION == 1
