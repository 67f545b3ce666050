"""End-to-end harness: the real `station-sim` and `station run` as processes on pty links.

Every wait is a condition polled against a deadline; nothing sleeps to wait.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.waiting import wait_until_sync

from edge import children
from edge.demo_station import sim_links, write_demo_config

POLL_S = 0.05


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return wait_until_sync(condition, timeout_s, what, POLL_S)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self, timeout_s: float = 15.0) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Process:
    """Started so that it ends with the test run even if pytest is killed (`edge.children`)."""
    return Process(name, children.spawn(name, argv, log, env).popen, log)


@dataclass
class Station:
    """A generated station folder with its simulator and daemon."""

    dir: Path
    config: Path
    ledger: Path
    sim: Process | None = None
    daemon: Process | None = None
    daemon_runs: int = 0
    extra: list[Process] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        tmp: Path,
        *,
        bus_dispensers: int = 3,
        language: str = "en",
        unpaced: bool = False,
        tanks: bool = False,
    ) -> Station:
        # At pty speed, without the demo's wire-time emulation: these tests are about what is stored and
        # acknowledged, and their traffic is fast. `unpaced`: the bus polled without pacing too.
        config = write_demo_config(
            tmp, bus_dispensers=bus_dispensers, language=language, wire_time=False, unpaced=unpaced, tanks=tanks
        )
        return cls(tmp, config, tmp / "ledger.jsonl")

    def start_sim(self, *options: str) -> Process:
        argv = [
            sys.executable, "-m", "station_sim.cli", "--config", str(self.config), "--ledger", str(self.ledger),
            "--state-dir", str(self.dir / "sim-state"), *options,
        ]  # fmt: skip
        self.sim = spawn("station-sim", argv, self.dir / "sim.log")
        wait_until(lambda: self.links_ready() or not self.sim.alive(), 30, "the simulator's pty links")  # type: ignore[union-attr]
        assert self.sim.alive(), self.sim.log_text()
        return self.sim

    def links_ready(self) -> bool:
        return all(link.exists() for link in sim_links(self.config))

    def start_daemon(self, *options: str) -> Process:
        argv = [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config), *options]
        self.daemon_runs += 1
        self.daemon = spawn("station", argv, self.dir / f"station-{self.daemon_runs}.log")
        return self.daemon

    def stop(self) -> None:
        for proc in (self.daemon, self.sim, *self.extra):
            if proc is not None:
                proc.terminate()

    def ledger_events(self) -> list[dict[str, Any]]:
        if not self.ledger.exists():
            return []
        out = []
        for line in self.ledger.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def export(self, *options: str) -> list[dict[str, Any]]:
        argv = [
            sys.executable,
            "-m",
            "edge.cli",
            "export",
            "transactions",
            "--config",
            str(self.config),
            *options,
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def ledger_records(events: list[dict[str, Any]]) -> dict[tuple[str, int, int], str]:
    return {(e["line"], e["dispenser"], e["pos_ttc"]): e["raw"] for e in events if e["event"] == "record"}


def ledger_acks(events: list[dict[str, Any]]) -> set[tuple[str, int, int]]:
    return {(e["line"], e["dispenser"], e["pos_ttc"]) for e in events if e["event"] == "ack"}


def assert_export_matches_ledger(station: Station) -> tuple[int, int]:
    """Every ledger record is in the export exactly once, byte-identical, and nothing else is."""
    events = station.ledger_events()
    produced = ledger_records(events)
    exported = [r for r in station.export() if not r.get("conflict")]
    keys = [(r["line"], r["dispenser"], r["pos_ttc"]) for r in exported]
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert not duplicates, f"stored twice: {sorted(duplicates)[:10]}"
    stored = {(r["line"], r["dispenser"], r["pos_ttc"]): r["raw"] for r in exported}
    missing = sorted(set(produced) - set(stored))
    extra = sorted(set(stored) - set(produced))
    assert not missing, f"{len(missing)} ledger records not stored, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} stored records the simulator never produced, e.g. {extra[:5]}"
    differing = [k for k in produced if produced[k].lower() != stored[k].lower()]
    assert not differing, f"records stored with other bytes: {differing[:5]}"
    return len(produced), len(ledger_acks(events))
