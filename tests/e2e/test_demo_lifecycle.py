"""`station demo` stops everything it started, in order, however it ends, and says how with its exit code.

Processes of a demo are found by their command line, which names the demo's data folder (unique per test).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge.children import wait_gone
from edge.demo_lifecycle import EXIT_FAILED, EXIT_OK, EXIT_SIGNAL_BASE
from tests.e2e.harness import Station, wait_until

pytestmark = pytest.mark.e2e

GONE_WITHIN_S = 5.0
"""What the issue asks: nothing the demo started is alive this long after the stop signal."""


def processes_of(data: Path) -> dict[int, str]:
    """pid -> command line of every live process whose command line names `data`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        text = " ".join(a.decode(errors="replace") for a in argv)
        if text.startswith("tmux"):
            continue  # the tmux server keeps the command line of the client that started it
        if str(data) in text and state != "Z":
            found[int(entry.name)] = text
    return found


def demo_argv(data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edge.cli", "demo", "--data-dir", str(data), "--rate", "60", *extra]


def start_headless(data: Path, seconds: float = 600) -> subprocess.Popen[str]:
    return subprocess.Popen(
        demo_argv(data, "--headless", "--seconds", str(seconds)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # pytest's own terminal signals stay away from it
    )


def ledger(data: Path) -> list[dict[str, object]]:
    path = data / "ledger.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def traffic_flowing(data: Path) -> bool:
    """The daemon is running and has acknowledged at least one record."""
    return any(e["event"] == "ack" for e in ledger(data))


def station_processes(data: Path) -> dict[int, str]:
    procs = processes_of(data)
    roles = {"station_sim.cli": False, "edge.cli run": False}
    for text in procs.values():
        for role in roles:
            roles[role] = roles[role] or role in text
    assert all(roles.values()), f"not every demo process is running: {procs}"
    return procs


def log_time(line: str) -> dt.datetime:
    return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def ledger_time(event: dict[str, object]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(event["at"])).replace(tzinfo=None)


def assert_stopped_in_order(data: Path) -> None:
    """Production halted, then the daemon stopped cleanly, then the simulator stopped (ledger `stop`)."""
    events = ledger(data)
    halted = [e for e in events if e["event"] == "production_halted"]
    stops = [e for e in events if e["event"] == "stop"]
    assert halted and stops, "the simulator did not halt production and then stop"
    daemon_log = (data / "station.log").read_text().splitlines()
    stopping = [line for line in daemon_log if "edge.daemon: stopping" in line]
    assert any("stopped cleanly" in line for line in daemon_log), "the daemon did not stop cleanly"
    assert stopping
    assert ledger_time(halted[-1]) <= log_time(stopping[-1]) <= ledger_time(stops[-1])
    assert not (data / "tty-bus1").exists() and not (data / "tty-p2p1").exists(), "pty links left behind"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_headless_demo_stopped_by_a_signal_leaves_nothing_running(
    tmp_path: Path, sig: signal.Signals
) -> None:
    data = tmp_path / "demo"
    demo = start_headless(data)
    try:
        wait_until(lambda: traffic_flowing(data), 120, "the daemon to acknowledge a record")
        started = {**station_processes(data), demo.pid: "station demo"}
        demo.send_signal(sig)
        left = wait_gone(list(started), GONE_WITHIN_S)
        assert not left, f"still running {GONE_WITHIN_S} s after {sig.name}: {[started[p] for p in left]}"
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == EXIT_SIGNAL_BASE + sig, err
    report = json.loads(out)
    assert report["ended"] == sig.name
    assert report["records_produced"] >= report["records_acknowledged"] >= 1
    assert report["records_stored"] >= report["records_acknowledged"]
    assert report["records_pending_in_dispensers"] >= 0
    assert_stopped_in_order(data)
    assert not processes_of(data)


def test_headless_demo_ends_with_its_own_timer_and_exit_code_0(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    demo = start_headless(data, seconds=6)
    out, err = demo.communicate(timeout=120)
    assert demo.returncode == EXIT_OK, err
    report = json.loads(out)
    assert report["ended"] == "ran its 6 s"
    assert report["records_produced"] >= report["records_acknowledged"]
    assert not processes_of(data)


def test_a_crashed_daemon_ends_the_demo_with_code_1_and_the_simulator_stopped(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    demo = start_headless(data)
    try:
        wait_until(lambda: traffic_flowing(data), 120, "the daemon to acknowledge a record")
        daemon = next(p for p, text in station_processes(data).items() if "edge.cli run" in text)
        os.kill(daemon, signal.SIGKILL)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == EXIT_FAILED
    assert "station daemon exited by itself" in err
    assert "exited by itself" in json.loads(out)["ended"]
    assert not processes_of(data)


def test_a_killed_parent_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    """The demo's parent dies (SIGKILL, so it cannot pass anything on): the demo hears a hang-up."""
    data = tmp_path / "demo"
    out_file = tmp_path / "demo.out"
    parent_code = (
        "import subprocess, sys\n"
        f"with open({str(out_file)!r}, 'w') as out:\n"
        f"    proc = subprocess.Popen({demo_argv(data, '--headless', '--seconds', '600')!r}, stdout=out)\n"
        "    proc.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], start_new_session=True)
    try:
        wait_until(lambda: traffic_flowing(data), 120, "the daemon to acknowledge a record")
        started = station_processes(data)
        parent.kill()
        parent.wait()
        assert not wait_gone(list(started), 30), processes_of(data)
    finally:
        for pid in processes_of(data):
            os.kill(pid, signal.SIGKILL)
    assert json.loads(out_file.read_text())["ended"] == "SIGHUP"
    assert_stopped_in_order(data)


def test_a_killed_demo_takes_its_processes_with_it(tmp_path: Path) -> None:
    """Even SIGKILL of the demo itself (no chance to stop in order) leaves nothing running."""
    data = tmp_path / "demo"
    demo = start_headless(data)
    try:
        wait_until(lambda: traffic_flowing(data), 120, "the daemon to acknowledge a record")
        started = station_processes(data)
        demo.kill()
        demo.wait()
        assert not wait_gone(list(started), 30), processes_of(data)
    finally:
        for pid in processes_of(data):
            os.kill(pid, signal.SIGKILL)
    assert "stopped cleanly" in (data / "station.log").read_text()


# --- the demo with its terminal UI, under tmux -----------------------------------------------------

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make test does)")


TMUX_SOCKET = f"station-demo-tests-{os.getpid()}"
"""A tmux server of these tests' own (`tmux -L`): another user's sessions never mix with them."""


def tmux(*args: str, check: bool = True) -> str:
    argv = ["tmux", "-L", TMUX_SOCKET, *args]
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30).stdout


def start_tui_demo(data: Path, session: str, exit_file: Path) -> None:
    command = " ".join(demo_argv(data)) + f" > {data.parent / 'demo.out'}; echo $? > {exit_file}"
    # the demo's stdout goes to a file, so the screen is the UI's alone
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-e", "TERM=xterm-256color", command)
    wait_until(
        lambda: "ONLINE" in tmux("capture-pane", "-p", "-t", session), 120, "the UI to reach the daemon"
    )
    grid = ("IDLE", "FUELLING", "FINISHED", "CARD IN")
    wait_until(
        lambda: any(w in tmux("capture-pane", "-p", "-t", session) for w in grid),
        60,
        "the demo operator's grid",
    )
    wait_until(lambda: traffic_flowing(data), 120, "the daemon to acknowledge a record")


@needs_tmux
def test_tui_demo_closed_with_tmux_kill_session_leaves_nothing_running(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    session = f"demo-kill-{os.getpid()}"
    try:
        start_tui_demo(data, session, tmp_path / "exit")
        started = station_processes(data)
        assert any("edge.cli demo" in text for text in started.values())
        assert any("-m tui" in text for text in started.values()), started
        assert any("edge.cli web" in text for text in started.values()), started
        tmux("kill-session", "-t", session)
        left = wait_gone(list(started), GONE_WITHIN_S)
        assert not left, f"still running {GONE_WITHIN_S} s after kill-session: {[started[p] for p in left]}"
    finally:
        tmux("kill-session", "-t", session, check=False)
        for pid in processes_of(data):
            os.kill(pid, signal.SIGKILL)
    assert_stopped_in_order(data)


@needs_tmux
def test_tui_demo_quit_with_q_stops_everything_and_exits_0(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    session = f"demo-quit-{os.getpid()}"
    exit_file = tmp_path / "exit"
    try:
        start_tui_demo(data, session, exit_file)
        started = station_processes(data)
        tmux("send-keys", "-t", session, "q")
        wait_until(lambda: exit_file.exists() and exit_file.read_text().strip(), 60, "the demo to exit")
        assert not wait_gone(list(started), 30), processes_of(data)
    finally:
        tmux("kill-session", "-t", session, check=False)
        for pid in processes_of(data):
            os.kill(pid, signal.SIGKILL)
    assert exit_file.read_text().strip() == str(EXIT_OK)
    out = (tmp_path / "demo.out").read_text()  # the web view's line, the summary, the web view's line
    assert "Web view of the terminal UI" in out
    assert json.loads(out[out.index("{") : out.rindex("}") + 1])["ended"] == "terminal UI closed"
    assert_stopped_in_order(data)


@needs_tmux
@pytest.mark.parametrize("how", ["kill-session", "SIGTERM"])
def test_the_terminal_ui_ends_when_its_terminal_closes_or_on_sigterm(tmp_path: Path, how: str) -> None:
    station = Station.create(tmp_path)
    session = f"tui-end-{os.getpid()}-{how}"
    try:
        station.start_sim()
        station.start_daemon()
        command = f"{sys.executable} -m edge.cli tui --config {station.config}"
        tmux(
            "new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-e", "TERM=xterm-256color", command
        )
        wait_until(
            lambda: "ONLINE" in tmux("capture-pane", "-p", "-t", session), 120, "the UI to reach the daemon"
        )
        pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
        if how == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
        else:
            tmux("kill-session", "-t", session)
        assert not wait_gone([pid], 30), f"the terminal UI still runs after {how}"
    finally:
        tmux("kill-session", "-t", session, check=False)
        station.stop()
