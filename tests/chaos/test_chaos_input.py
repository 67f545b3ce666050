"""Chaos: hostile input is answered with a clear message and the documented exit code, never a traceback.

Configuration files of binary garbage or nested thousands deep, a UTF-8 byte-order mark, an empty
calendar file; against a running station: a control-API line nested thousands deep, 32 idle
subscribers, and a flood of garbage and requests from several clients — after which every record the
simulator made is stored (ledger vs export).
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.commands.status import EXIT_BUSY
from tests.e2e.harness import Station, assert_export_matches_ledger, wait_until

pytestmark = pytest.mark.chaos

EXIT_CONFIG = 2
DEEP = 50_000


def station_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=120
    )


def sim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station_sim.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def bad_configs(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(random.Random(7).randbytes(4096))
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * DEEP + "]" * DEEP + "\n")
    return {"binary garbage": garbage, "nested too deeply": deep}


@pytest.mark.parametrize("kind", ["binary garbage", "nested too deeply"])
def test_a_hostile_configuration_is_refused_with_code_2_everywhere(
    bad_configs: dict[str, Path], kind: str
) -> None:
    path = str(bad_configs[kind])
    runs = {
        "run --check": station_cli("run", "--config", path, "--check"),
        "run": station_cli("run", "--config", path),
        "export": station_cli("export", "transactions", "--config", path),
        "station-sim": sim_cli("--config", path),
    }
    for name, result in runs.items():
        assert result.returncode == EXIT_CONFIG, (name, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
        expected = "not a text file" if kind == "binary garbage" else "nested too deeply"
        assert expected in result.stderr, (name, result.stderr)


def test_a_configuration_with_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    station = Station.create(tmp_path)
    (tmp_path / "tty-bus1").touch()
    (tmp_path / "tty-p2p1").touch()
    station.config.write_bytes(b"\xef\xbb\xbf" + station.config.read_bytes())
    result = station_cli("run", "--config", str(station.config), "--check")
    assert result.returncode == 0, result.stderr
    assert "OK (2 lines)" in result.stdout


def test_an_empty_calendar_file_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    station = Station.create(tmp_path)
    good = tmp_path / "calendar.toml"
    good.write_text('holidays = ["2026-10-01", "2026-10-02"]\n')
    empty = tmp_path / "empty-calendar.toml"
    empty.write_text("# nothing here\n")
    config = str(station.config)
    imported = station_cli("lists", "import", "--config", config, "--kind", "calendar", str(good))
    assert imported.returncode == 0, imported.stderr
    refused = station_cli("lists", "import", "--config", config, "--kind", "calendar", str(empty))
    assert refused.returncode != 0
    assert "empty calendar" in refused.stderr and "nothing changed" in refused.stderr
    assert "Traceback" not in refused.stderr
    shown = station_cli("lists", "show", "--config", config)
    assert "2 holidays" in shown.stdout, shown.stdout


# --- against a running station ----------------------------------------------------------------------


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Station]:
    station = Station.create(tmp_path)
    try:
        station.start_sim("--seed", "31", "--rate", "60", "--fuel-speed", "4000")
        station.start_daemon()
        wait_until(lambda: (tmp_path / "control.sock").exists(), 120, "the control socket")
        yield station
    finally:
        station.stop()


def connect(station: Station) -> tuple[socket.socket, Iterator[dict[str, object]]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(str(station.dir / "control.sock"))
    return sock, _lines(sock)


def _lines(sock: socket.socket) -> Iterator[dict[str, object]]:
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        yield json.loads(line)


def reply_to(lines: Iterator[dict[str, object]], request_id: int) -> dict[str, object]:
    for message in lines:
        if message.get("re") == request_id:
            return message
    raise AssertionError(f"the connection closed before the reply to {request_id}")


def test_a_control_line_nested_thousands_deep_gets_an_error_reply(running: Station) -> None:
    sock, lines = connect(running)
    with sock:
        assert next(lines)["type"] == "hello"
        sock.sendall(b'{"v": 1, "type": "ping", "id": 1, "x": ' + b"[" * DEEP + b"]" * DEEP + b"}\n")
        error = next(lines)
        assert error["type"] == "error" and error["code"] == "bad_request", error
        assert "nested too deeply" in str(error["message"])
        sock.sendall(b'{"v": 1, "type": "ping", "id": 2}\n')  # the connection still serves
        assert reply_to(lines, 2)["type"] == "ok"
    assert running.daemon is not None and running.daemon.alive()


def test_idle_subscribers_never_lock_out_station_status(running: Station) -> None:
    idle = []
    try:
        for i in range(32):
            sock, lines = connect(running)
            assert next(lines)["type"] == "hello"
            sock.sendall(json.dumps({"v": 1, "type": "subscribe", "id": i + 1}).encode() + b"\n")
            idle.append(sock)
        outcomes: list[subprocess.CompletedProcess[str]] = []

        def status_succeeds() -> bool:
            result = station_cli("status", "--config", str(running.config))
            outcomes.append(result)
            return result.returncode == 0

        wait_until(status_succeeds, 60, "station status to get through")
    finally:
        for sock in idle:
            sock.close()
    for result in outcomes:
        assert "not running" not in result.stderr, result.stderr
        assert result.returncode in (0, EXIT_BUSY), result.stderr
        assert "Traceback" not in result.stderr


def test_a_control_flood_leaves_the_station_storing_every_record(running: Station) -> None:
    garbage = [
        b"\xff\xfe\x00garbage\n",
        b"{not json\n",
        b'{"v": 1, "type": "no_such_thing", "id": 5}\n',
        b'{"v": 99, "type": "ping", "id": 6}\n',
        b'{"v": 1, "type": "get_audit", "id": 7, "limit": 5}\n',
        b'{"v": 1, "type": "ping", "id": 8}\n',
        b"[" * 5000 + b"\n",
    ]
    before = sum(e["event"] == "ack" for e in running.ledger_events())
    deadline = time.monotonic() + 120
    socks = []
    try:
        for _ in range(8):
            sock, lines = connect(running)
            assert next(lines)["type"] == "hello"
            socks.append((sock, lines))
        for _ in range(200):
            for sock, _lines in socks:
                sock.sendall(b"".join(garbage))
        for sock, lines in socks:  # each client is still answered after its flood
            sock.sendall(b'{"v": 1, "type": "ping", "id": 424242}\n')
            assert reply_to(lines, 424242)["type"] == "ok"
    finally:
        for sock, _ in socks:
            sock.close()
    assert time.monotonic() < deadline
    wait_until(
        lambda: sum(e["event"] == "ack" for e in running.ledger_events()) > before,
        120,
        "records stored after",
    )
    running.sim.popen.send_signal(signal.SIGUSR1)  # type: ignore[union-attr]  # production halted
    wait_until(
        lambda: any(e["event"] == "production_done" for e in running.ledger_events()), 180, "production"
    )
    events = running.ledger_events
    wait_until(
        lambda: (
            {(e["line"], e["dispenser"], e["pos_ttc"]) for e in events() if e["event"] == "record"}
            <= {(e["line"], e["dispenser"], e["pos_ttc"]) for e in events() if e["event"] == "ack"}
        ),
        180,
        "every record acknowledged",
    )
    assert running.daemon is not None and running.daemon.terminate() == 0
    assert "Traceback" not in running.daemon.log_text()
    assert_export_matches_ledger(running)
