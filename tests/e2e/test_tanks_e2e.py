"""Tanks end to end: the real daemon reads the simulator's tank consoles over Modbus RTU on a pty while the
simulated dispensers sell from those tanks.

- `test_a_day_with_a_delivery_and_a_leak`: random sales on every dispenser, a delivery into T2 and a slow
  leak in T1. The delivery is detected with its volume within 0.5 % of the scripted one; every
  reconciliation of the leaking tank is over the threshold and raises its alarm, those of the other tanks
  stay within it; every record is stored once (ledger vs export).
- `test_tank_faults_raise_their_alarms`: no sales; a sudden loss, a probe out, an impossible reading (NaN
  floats on the vendor map) and a console that stops answering each raise their alarm on the tank's
  source; the probe's and the reading's alarms clear when they recover, and nothing impossible is stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Station, assert_export_matches_ledger, ledger_acks, ledger_records, wait_until

pytestmark = pytest.mark.e2e

SCRIPTED_DELIVERY_L = 5000.0


def tune(station: Station, *, reconcile_min: float, tank_keys: str) -> None:
    """Faster polling and reconciliation for a run of minutes, and extra keys for every tank."""
    text = station.config.read_text(encoding="utf-8")
    text = text.replace("poll_interval_s = 1.0", "poll_interval_s = 0.5")
    text = text.replace("reconcile_interval_min = 0.0", f"reconcile_interval_min = {reconcile_min}")
    text = text.replace(
        "\n[[tanks.consoles]]", "\nvariance_pct = 0.5\nvariance_min_l = 100.0\n\n[[tanks.consoles]]", 1
    )
    lines = []
    for line in text.splitlines():
        lines.append(line)
        if line.startswith("strapping = "):
            lines.append(tank_keys)
    station.config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def query(station: Station, sql: str) -> list[dict[str, Any]]:
    path = station.dir / "station.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def tank_alarms(station: Station, *, active: bool | None = None) -> set[tuple[str, str]]:
    where = "" if active is None else ("AND cleared_at IS NULL" if active else "AND cleared_at IS NOT NULL")
    rows = query(station, f"SELECT source, code FROM alarms WHERE source LIKE 'tank:%' {where}")
    return {(r["source"], r["code"]) for r in rows}


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station.create(tmp_path, tanks=True)
    yield st
    st.stop()


DAY = """
[[tanks]]
number = 1
volume_l = 18000
temperature_c = 20
[[tanks]]
number = 2
volume_l = 15000
temperature_c = 20
[[tanks]]
number = 3
volume_l = 18000
temperature_c = 20

[[tank_events]]
at_s = 0
tank = 1
action = "leak"
rate_l_h = 20000

[[tank_events]]
at_s = 20
tank = 2
action = "delivery"
volume_l = 5000
rate_l_min = 3000
"""


def test_a_day_with_a_delivery_and_a_leak(station: Station) -> None:
    tune(
        station,
        reconcile_min=0.5,
        tank_keys="delivery_settle_s = 8\ndelivery_window_s = 60\ndelivery_rise_l = 150\ndelivery_stable_l = 10",
    )
    scenario = station.dir / "day.toml"
    scenario.write_text(DAY, encoding="utf-8")
    station.start_sim(
        "--rate", "12", "--fuel-speed", "1000", "--p2p-interval-ms", "100", "--seed", "5",
        "--mix", "sale=70,cash=30", "--duration", "100", "--scenario", str(scenario),
    )  # fmt: skip
    daemon = station.start_daemon()

    def done() -> bool:
        recs = query(station, "SELECT tank, deliveries_l, over_threshold FROM tank_reconciliations")
        leak_flagged = any(r["tank"] == 1 and r["over_threshold"] for r in recs)
        delivery_reconciled = any(r["tank"] == 2 and r["deliveries_l"] > 0 for r in recs)
        diesel = sum(1 for r in recs if r["tank"] == 3)
        return leak_flagged and delivery_reconciled and diesel >= 2

    wait_until(lambda: done() or not daemon.alive(), 300, "the delivery, the leak and two diesel periods")
    assert daemon.alive(), daemon.log_text()[-3000:]

    deliveries = query(station, "SELECT * FROM tank_deliveries")
    assert [d["tank"] for d in deliveries] == [2], deliveries
    ledger = [e for e in station.ledger_events() if e["event"] == "tank_delivery"]
    assert [e["volume_l"] for e in ledger] == [SCRIPTED_DELIVERY_L]
    assert deliveries[0]["delivered_l"] == pytest.approx(SCRIPTED_DELIVERY_L, rel=0.005)

    recs = query(station, "SELECT * FROM tank_reconciliations ORDER BY id")
    for r in recs:
        assert r["book_closing_l"] == pytest.approx(r["opening_l"] + r["deliveries_l"] - r["sales_l"])
        assert r["variance_l"] == pytest.approx(r["measured_closing_l"] - r["book_closing_l"])
        if r["tank"] == 1:
            assert r["over_threshold"] == 1, r
            assert r["variance_l"] < -100, r
        else:
            assert r["over_threshold"] == 0, r
    assert ("tank:1", "tank_variance") in tank_alarms(station, active=True)
    assert not {a for a in tank_alarms(station) if a[1] == "tank_variance" and a[0] != "tank:1"}

    def all_acknowledged() -> bool:
        events = station.ledger_events()
        return any(e["event"] == "production_done" for e in events) and set(
            ledger_records(events)
        ) <= ledger_acks(events)

    wait_until(all_acknowledged, 180, "the end of the day's sales, every record acknowledged")
    assert daemon.terminate() == 0
    assert_export_matches_ledger(station)


FAULTS = """
[[tanks]]
number = 1
volume_l = 15000
[[tanks]]
number = 2
volume_l = 15000
[[tanks]]
number = 3
volume_l = 15000

[[tank_events]]
at_s = 8
tank = 3
action = "sudden_loss"
volume_l = 600

[[tank_events]]
at_s = 10
tank = 2
action = "probe_out"
for_s = 6

[[tank_events]]
at_s = 12
tank = 3
action = "bad_reading"
for_s = 6

[[tank_events]]
at_s = 30
tank = 1
action = "console_offline"
for_s = 0
"""


def test_tank_faults_raise_their_alarms(station: Station) -> None:
    tune(
        station,
        reconcile_min=0.0,
        tank_keys="sudden_loss_l = 100\nsudden_loss_window_s = 60\ndispensing_grace_s = 2",
    )
    scenario = station.dir / "faults.toml"
    scenario.write_text(FAULTS, encoding="utf-8")
    station.start_sim("--rate", "0", "--seed", "3", "--scenario", str(scenario))
    daemon = station.start_daemon()

    wanted = {
        ("tank:3", "tank_sudden_loss"),
        ("tank:2", "tank_probe_error"),
        ("tank:3", "tank_bad_reading"),
        ("tank:1", "tank_probe_offline"),
        ("tank:2", "tank_probe_offline"),
    }
    wait_until(lambda: wanted <= tank_alarms(station) or not daemon.alive(), 180, f"alarms {wanted}")
    assert daemon.alive(), daemon.log_text()[-3000:]
    cleared = tank_alarms(station, active=False)
    assert ("tank:2", "tank_probe_error") in cleared
    assert ("tank:3", "tank_bad_reading") in cleared
    assert ("tank:3", "tank_probe_offline") not in tank_alarms(station), "T3's console still answers"
    impossible = query(
        station, "SELECT * FROM tank_measurements WHERE product_height_mm > 2400 OR volume_l < 0"
    )
    assert impossible == []
    assert daemon.terminate() == 0
