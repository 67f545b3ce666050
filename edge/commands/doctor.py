"""`station doctor`: one screen of health checks for the field engineer (`--json` for scripts).

Checks the configuration, the serial devices, the database (integrity, schema version), disk space, the
outbox's age, the clock, certificate expiry and the newest backup. Read-only; safe while the daemon runs.
Exit status: 0 all ok, 1 a warning, 2 a failure (or a configuration that cannot be read).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "doctor"
HELP = "Health checks: config, serial devices, database, disk, outbox, clock, certificates, backups."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="station TOML configuration")
    parser.add_argument("--json", action="store_true", help="the checks as JSON")


def run(args: argparse.Namespace) -> int:
    from edge.doctor import Level, run_checks, worst

    checks = run_checks(args.config)
    overall = worst(checks)
    if args.json:
        print(
            json.dumps(
                {"status": overall.value, "checks": [c.as_dict() for c in checks]},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        marks = {Level.OK: "ok  ", Level.WARN: "WARN", Level.FAIL: "FAIL"}
        for c in checks:
            print(f"[{marks[c.level]}] {c.name:<18} {c.detail}")
        print(f"overall: {overall.value}")
    return {Level.OK: 0, Level.WARN: 1, Level.FAIL: 2}[overall]
