"""`station demo --headless`: the README's demo without a screen leaves a station that can be restarted by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_headless_demo_leaves_database_ledger_and_config(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "demo",
            "--headless",
            "--seconds",
            "8",
            "--rate",
            "60",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(result.stdout)
    assert summary["records_produced"] > 0
    assert 0 < summary["records_stored"] <= summary["records_produced"]
    assert summary["records_acknowledged"] <= summary["records_stored"]
    for name in ("station.toml", "station.db", "ledger.jsonl"):
        assert (data / name).exists(), name
    check = subprocess.run(
        [sys.executable, "-m", "edge.cli", "export", "transactions", "--config", str(data / "station.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(check.stdout.splitlines()) == summary["records_stored"]
