"""The pure tank core: strapping interpolation, compensation, measurement, alarms, deliveries, reconciliation."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from edge.devices.tanks.alarms import AlarmLimits, TankAlarmState
from edge.devices.tanks.compensation import compensated_volume, vcf
from edge.devices.tanks.delivery import DeliveryDetector, DeliveryLimits
from edge.devices.tanks.errors import BadMeasurement, BadStrappingTable
from edge.devices.tanks.measurement import Measurement, TankGeometry, measure
from edge.devices.tanks.reconcile import reconcile
from edge.devices.tanks.strapping import StrappingTable

T0 = dt.datetime(2026, 12, 2, 6, 0, 0)

TABLE = StrappingTable.from_points([(0, 0), (500, 4000), (1000, 11000), (1500, 18000), (2000, 22000)])


@st.composite
def tables(draw: st.DrawFn) -> StrappingTable:
    n = draw(st.integers(2, 12))
    dh = draw(st.lists(st.floats(1, 500), min_size=n - 1, max_size=n - 1))
    dv = draw(st.lists(st.floats(1, 5000), min_size=n - 1, max_size=n - 1))
    h, v = [0.0], [0.0]
    for a, b in zip(dh, dv, strict=True):
        h.append(h[-1] + a)
        v.append(v[-1] + b)
    return StrappingTable(tuple(h), tuple(v))


@given(tables(), st.floats(0, 1))
def test_interpolation_stays_between_neighbours_and_inverts(table: StrappingTable, frac: float) -> None:
    height = table.max_height_mm * frac
    volume = table.volume_at(height)
    assert 0 <= volume <= table.capacity_l
    assert table.height_at(volume) == pytest.approx(height, rel=1e-9, abs=1e-6)


@given(tables(), st.floats(0, 1), st.floats(0, 1))
def test_interpolation_is_monotonic(table: StrappingTable, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert table.volume_at(table.max_height_mm * lo) <= table.volume_at(table.max_height_mm * hi)


@given(tables())
def test_interpolation_hits_every_point(table: StrappingTable) -> None:
    for h, v in zip(table.heights_mm, table.volumes_l, strict=True):
        assert table.volume_at(h) == pytest.approx(v)


def test_interpolation_between_two_points() -> None:
    assert TABLE.volume_at(250) == 2000
    assert TABLE.volume_at(750) == 7500


@pytest.mark.parametrize(
    "points",
    [
        [(0, 0)],
        [(0, 0), (100, 50), (90, 60)],
        [(0, 0), (100, 50), (200, 50)],
        [(-1, 0), (100, 50)],
        [(0, 0), (float("nan"), 50)],
    ],
)
def test_bad_tables_are_refused(points: list[tuple[float, float]]) -> None:
    with pytest.raises(BadStrappingTable):
        StrappingTable.from_points(points)


def test_heights_outside_the_table_are_bad_measurements() -> None:
    with pytest.raises(BadMeasurement):
        TABLE.volume_at(2000.5)
    with pytest.raises(BadMeasurement):
        TABLE.volume_at(float("inf"))


@given(st.floats(-40, 70), st.sampled_from([15.0, 20.0]), st.floats(0.0005, 0.003))
def test_compensation_is_one_at_reference_and_falls_with_warmth(t: float, ref: float, alpha: float) -> None:
    assert vcf(ref, ref, alpha) == 1.0
    assume(abs(t - ref) > 0.01)
    if t > ref:
        assert vcf(t, ref, alpha) < 1.0
    else:
        assert vcf(t, ref, alpha) > 1.0


@given(st.floats(-40, 69), st.floats(0.01, 1), st.floats(0.0005, 0.003))
def test_compensation_is_monotonic_in_temperature(t: float, step: float, alpha: float) -> None:
    assert compensated_volume(1000, t + step, 15.0, alpha) < compensated_volume(1000, t, 15.0, alpha)


def test_compensation_known_value() -> None:
    # gasoline, 30 °C to 20 °C: exp(-0.0012*10*(1+0.8*0.0012*10)) = exp(-0.0121152) = 0.987958
    assert vcf(30.0, 20.0, 0.0012) == pytest.approx(0.987958, abs=1e-6)


def test_implausible_temperature_is_refused() -> None:
    with pytest.raises(BadMeasurement):
        vcf(150.0, 20.0, 0.0012)


GEOM = TankGeometry(TABLE, alpha_per_c=0.0012, reference_c=20.0)


def figures(
    height: float, water: float = 0.0, temp: float = 20.0, bits: int = 0, status: int = 0
) -> dict[str, float]:
    return {
        "product_height_mm": height,
        "water_height_mm": water,
        "temperature_c": temp,
        "alarm_bits": float(bits),
        "probe_status": float(status),
    }


def test_measure_subtracts_water_and_computes_ullage() -> None:
    m = measure(1, T0, figures(1000, water=250), GEOM)
    assert m.water_volume_l == 2000
    assert m.volume_l == 9000
    assert m.tc_volume_l == 9000
    assert m.ullage_l == 11000


@pytest.mark.parametrize(
    "bad",
    [
        figures(1000, water=1200),
        figures(float("nan")),
        figures(2500),
        figures(-5),
        {"product_height_mm": 10.0},
    ],
)
def test_measure_refuses_impossible_readings(bad: dict[str, float]) -> None:
    with pytest.raises(BadMeasurement):
        measure(1, T0, bad, GEOM)


def at(seconds: float, height: float, **kw: float) -> Measurement:
    return measure(1, T0 + dt.timedelta(seconds=seconds), figures(height, **kw), GEOM)  # type: ignore[arg-type]


def test_level_and_water_alarms() -> None:
    state = TankAlarmState(AlarmLimits(capacity_l=TABLE.capacity_l, high_water_mm=40))
    assert state.step(at(0, 1000), dispensing=True) == frozenset()
    assert "high_high" in state.step(at(1, 1999), dispensing=True)
    assert "low_low" in state.step(at(2, 100), dispensing=True) | {"jump"}
    assert "high_water" in state.step(at(3, 100, water=50), dispensing=True)


def test_console_bits_and_probe_error() -> None:
    state = TankAlarmState(AlarmLimits(capacity_l=TABLE.capacity_l))
    active = state.step(at(0, 1000, bits=0x01 | 0x40), dispensing=True)
    assert {"console_leak", "probe_error"} <= active
    assert "probe_error" in state.step(at(1, 1000, status=2), dispensing=True)


def test_jump_alarm() -> None:
    state = TankAlarmState(AlarmLimits(capacity_l=TABLE.capacity_l, jump_mm=100))
    state.step(at(0, 1000), dispensing=True)
    assert "jump" in state.step(at(1, 1200), dispensing=True)
    assert "jump" not in state.step(at(2, 1210), dispensing=True)


def test_sudden_loss_only_while_nothing_dispenses() -> None:
    lim = AlarmLimits(
        capacity_l=TABLE.capacity_l, sudden_loss_l=50, sudden_loss_window_s=300, dispensing_grace_s=10
    )
    state = TankAlarmState(lim)
    # falling while dispensing: a sale, not a loss
    for i in range(20):
        assert "sudden_loss" not in state.step(at(i, 1000 - i * 2), dispensing=True)
    # quiet: grace, then a fall of 14 mm = 196 L within the window
    base = 1000 - 19 * 2
    for i in range(20, 40):
        assert "sudden_loss" not in state.step(at(i, base), dispensing=False)
    assert "sudden_loss" in state.step(at(41, base - 14), dispensing=False)


def test_delivery_detected_with_its_volume() -> None:
    det = DeliveryDetector(1, DeliveryLimits(rise_l=200, window_s=300, stable_l=5, settle_s=60))
    events = []
    t = 0.0
    height = 600.0
    for _ in range(30):  # quiet
        events.append(det.step(at(t, height)))
        t += 5
    start_v = TABLE.volume_at(height)
    for _ in range(60):  # 5 mm per 5 s
        height += 5
        events.append(det.step(at(t, height)))
        t += 5
    for _ in range(30):  # settled
        events.append(det.step(at(t, height)))
        t += 5
    done = [e for e in events if e is not None]
    assert len(done) == 1
    assert done[0].gained_l == pytest.approx(TABLE.volume_at(height) - start_v)
    assert not det.delivering


def test_delivery_detected_while_sales_go_on() -> None:
    det = DeliveryDetector(1, DeliveryLimits(rise_l=200, window_s=300, stable_l=5, settle_s=60))
    done = []
    t, height = 0.0, 900.0
    for i in range(200):
        if 20 <= i < 80:
            height += 6  # the tanker drains while the nozzles keep selling
        height -= 1
        result = det.step(at(t, height))
        if result is not None:
            done.append(result)
        t += 5
    assert len(done) == 1
    d = done[0]
    assert d.start.at < T0 + dt.timedelta(seconds=100 + 1)
    assert d.end.at >= d.start.at + dt.timedelta(seconds=300)


def test_noise_is_no_delivery() -> None:
    det = DeliveryDetector(1, DeliveryLimits(rise_l=200))
    for i in range(200):
        assert det.step(at(i * 5, 1000 + (3 if i % 2 else -3))) is None
    assert not det.delivering


def test_reconciliation_adds_up_and_flags_a_leak() -> None:
    ok = reconcile(1, ("a", "b"), 10000, 5000, 3000, 11990, threshold_pct=0.5, threshold_min_l=20)
    assert ok.book_closing_l == 12000
    assert ok.variance_l == -10
    assert not ok.over_threshold
    leak = reconcile(1, ("a", "b"), 10000, 0, 3000, 6900, threshold_pct=0.5, threshold_min_l=20)
    assert leak.variance_l == -100
    assert leak.variance_pct == pytest.approx(-100 / 30)
    assert leak.over_threshold
    idle = reconcile(1, ("a", "b"), 10000, 0, 0, 10000, threshold_pct=0.5, threshold_min_l=20)
    assert idle.variance_pct == 0 and not idle.over_threshold
