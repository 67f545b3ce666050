"""The shift handover report built from the journal: totalizers against recorded sales, per nozzle and
employee.

Layer: storage (reads the journal and the shift's rows; `storage.shifts` freezes the final report at
close).
Employee duty periods are not stored separately: they are the on-duty / off-duty records (T_TYPE 5 / 6)
of the journal, so they can never disagree with it.

The report of shift S (window = the journal rows that arrived between its open and its close, by row id,
so a wall-clock step cannot move a record into another shift; shifts from before migration 0160: the
arrival-time window [opened_at, closed_at or now)). A shift never closes before it opened nor opens
before the previous one closed (`ShiftOrderError`: the wall clock was stepped back):

    per nozzle     totalizer start (S start reading) .. end (S end reading) → meter volume
                   records of the window: count, volume, amount, by payment mode
                   difference = meter volume − dispensed volume; flagged when |difference| > tolerance
    per employee   duty periods at each nozzle (clipped to the window; a period's totalizers are the
                   duty records' V_TOT, or the shift readings where it was clipped), the employee's
                   records (EMP), the same difference check
    totals         by payment mode

Which records count [P]:

    T_TYPE low nibble   counted (count, amount)   dispensed volume   payment bucket
    0 sale, 7 cash      yes                       yes                UNIT b7-4: cash, ticket, credit, bank_card, other
    9 card error        yes                       yes                UNIT b7-4
    1 grey              yes                       yes                grey_unpaid (owed; settled later by a 3)
    3 unlock, 4 suppl.  yes                       no (fuel counted   UNIT b7-4
                                                  by the earlier record)
    2, 5, 6, 8          no                        no

A duty period ended by an off-duty record whose card is not an employee card (ASN kind digits ≠ "04",
i.e. the pump-verification card) is marked `forced`. Money is fen, volume 0.01 of the unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.words import EMP_NONE, PAYMENT_MODES
from storage.clock import iso_instant, parse_instant
from storage.shift_render import report_csv, report_text
from storage.shift_report import (
    NOTE_NO_READING,
    NOTE_SEPARATOR,
    NOTE_STALE,
    NOTE_WRAPPED,
    ReportDuty,
    ReportEmployee,
    ReportNozzle,
    ReportPayment,
    ShiftReport,
    shift_view,
)
from storage.shift_rows import NozzleRef, Reader, Reading, ShiftRow, stored_readings

COUNTED_KINDS = frozenset({0, 1, 3, 4, 7, 9})
DISPENSED_KINDS = frozenset({0, 1, 7, 9})
ON_DUTY, OFF_DUTY, GREY = 5, 6, 1
EMPLOYEE_CARD_KIND = "04"
GREY_BUCKET = "grey_unpaid"
DUTY_LOOKBACK = dt.timedelta(days=31)
"""How far before a shift's start on-duty records are looked for (a duty period longer than this is
reported from the shift's start)."""
V_TOT_MODULUS = 1 << 32


# --- building the report --------------------------------------------------------------------------


@dataclass
class _Acc:
    count: int = 0
    vol: int = 0
    amn: int = 0
    payments: dict[str, ReportPayment] = field(default_factory=dict)

    def add(self, kind: int, unit: int, vol: int, amn: int) -> None:
        dispensed = vol if kind in DISPENSED_KINDS else 0
        self.count += 1
        self.vol += dispensed
        self.amn += amn
        mode = GREY_BUCKET if kind == GREY else PAYMENT_MODES.get((unit >> 4) & 0x0F, "other")
        old = self.payments.get(mode, ReportPayment(mode))
        self.payments[mode] = ReportPayment(mode, old.count + 1, old.vol + dispensed, old.amn + amn)

    def sorted_payments(self) -> tuple[ReportPayment, ...]:
        return tuple(self.payments[k] for k in sorted(self.payments))


def _meter(start: int | None, end: int | None) -> int | None:
    if start is None or end is None:
        return None
    return (end - start) % V_TOT_MODULUS


def _is_employee_card(asn: str) -> bool:
    return len(asn) == 20 and asn[4:6] == EMPLOYEE_CARD_KIND


@dataclass
class _Period:
    line: str
    dispenser: int
    nzn: int
    emp: int
    on_at: dt.datetime | None
    start_v_tot: int | None
    off_at: dt.datetime | None = None
    end_v_tot: int | None = None
    forced: bool = False
    off_asn: str = ""


def _duty_periods(rows: Sequence[Any]) -> list[_Period]:
    """Duty periods from on/off-duty records in id order (per nozzle)."""
    periods: list[_Period] = []
    open_: dict[tuple[str, int, int], _Period] = {}
    for r in rows:
        key = (r["line"], int(r["dispenser"]), int(r["nzn"]))
        at = parse_instant(r["received_at"])
        kind = int(r["kind"])
        current = open_.pop(key, None)
        if kind == ON_DUTY:
            if current is not None:  # a new on-duty without an off-duty ends the previous period
                current.off_at, current.end_v_tot = at, int(r["v_tot"])
            open_[key] = _Period(*key, emp=int(r["emp"]), on_at=at, start_v_tot=int(r["v_tot"]))
            periods.append(open_[key])
        else:
            if current is None:  # off-duty with no on-duty seen: the period started before we know
                current = _Period(*key, emp=int(r["emp"]), on_at=None, start_v_tot=None)
                periods.append(current)
            current.off_at, current.end_v_tot = at, int(r["v_tot"])
            current.off_asn = str(r["asn"])
            current.forced = not _is_employee_card(str(r["asn"]))
    return periods


async def build_report(
    reader: Reader,
    shift: ShiftRow,
    *,
    nozzles: Sequence[NozzleRef],
    tolerance: int,
    now: dt.datetime,
    final: bool,
    end_override: dict[tuple[str, int, int], Reading] | None = None,
    title: str = "",
) -> ShiftReport:
    start = shift.opened_at
    end = shift.closed_at or now
    start_text, end_text = iso_instant(start), iso_instant(end)
    start_readings = await stored_readings(reader, shift.id, "start")
    end_readings = end_override if end_override is not None else await stored_readings(reader, shift.id, "end")

    bounds: tuple[object, ...]
    duty_bound: object
    if shift.first_record_id is not None:
        # By row id: the arrival order, which a wall-clock step cannot disturb (the report of the next
        # shift never counts this one's records, whatever the clock said).
        last: object = shift.last_record_id if shift.last_record_id is not None else 2**63 - 1
        window, bounds = "id > ? AND id <= ?", (shift.first_record_id, last)
        duty_end, duty_bound = "id <= ?", last
    else:  # a shift opened before the row bounds existed
        window, bounds = "received_at >= ? AND received_at < ?", (start_text, end_text)
        duty_end, duty_bound = "received_at < ?", end_text
    records = await reader.rows(
        "SELECT line, dispenser, nzn, kind, unit, emp, vol, amn FROM transactions"
        f" WHERE {window} AND conflict_of IS NULL ORDER BY id",
        bounds,
    )
    duty_rows = await reader.rows(
        "SELECT line, dispenser, nzn, kind, emp, asn, v_tot, received_at FROM transactions"
        f" WHERE kind IN (5, 6) AND received_at >= ? AND {duty_end} AND conflict_of IS NULL ORDER BY id",
        (iso_instant(start - DUTY_LOOKBACK), duty_bound),
    )

    refs = {n.key: n for n in nozzles}
    per_nozzle: dict[tuple[str, int, int], _Acc] = {}
    per_emp: dict[int, _Acc] = {}
    total = _Acc()
    for r in records:
        kind = int(r["kind"])
        if kind not in COUNTED_KINDS:
            continue
        key = (r["line"], int(r["dispenser"]), int(r["nzn"]))
        if key not in refs:
            refs[key] = NozzleRef(*key)
        args = (kind, int(r["unit"]), int(r["vol"]), int(r["amn"]))
        per_nozzle.setdefault(key, _Acc()).add(*args)
        per_emp.setdefault(int(r["emp"]), _Acc()).add(*args)
        total.add(*args)

    nozzle_rows: list[ReportNozzle] = []
    for key in sorted(set(refs) | set(start_readings) | set(end_readings)):
        ref = refs.get(key, NozzleRef(*key))
        acc = per_nozzle.get(key, _Acc())
        s, e = start_readings.get(key), end_readings.get(key)
        meter = _meter(s.v_tot if s else None, e.v_tot if e else None)
        diff = None if meter is None else meter - acc.vol
        notes = []
        if s is None or e is None:
            notes.append(NOTE_NO_READING[(s is None, e is None)])
        elif not (s.fresh and e.fresh):
            notes.append(NOTE_STALE)
        if s is not None and e is not None and e.v_tot < s.v_tot:
            notes.append(NOTE_WRAPPED)
        nozzle_rows.append(
            ReportNozzle(
                line=key[0],
                dispenser=key[1],
                nzn=key[2],
                g_code=ref.g_code,
                product=ref.product,
                start_v_tot=s.v_tot if s else None,
                end_v_tot=e.v_tot if e else None,
                start_read_at=iso_instant(s.read_at) if s else "",
                end_read_at=iso_instant(e.read_at) if e else "",
                meter_vol=meter,
                sales_count=acc.count,
                sales_vol=acc.vol,
                sales_amn=acc.amn,
                payments=acc.sorted_payments(),
                difference=diff,
                flagged=diff is not None and abs(diff) > tolerance,
                note=NOTE_SEPARATOR.join(notes),
            )
        )

    # employees: duty periods clipped to the window
    duties: dict[int, list[ReportDuty]] = {}
    for p in _duty_periods(duty_rows):
        if p.off_at is not None and p.off_at < start:
            continue
        key = (p.line, p.dispenser, p.nzn)
        s_v = p.start_v_tot if p.on_at is not None and p.on_at >= start else _v(start_readings.get(key))
        e_v = p.end_v_tot if p.off_at is not None else _v(end_readings.get(key))
        duties.setdefault(p.emp, []).append(
            ReportDuty(
                line=p.line,
                dispenser=p.dispenser,
                nzn=p.nzn,
                emp=p.emp,
                on_at=iso_instant(p.on_at) if p.on_at else "",
                off_at=iso_instant(p.off_at) if p.off_at else "",
                start_v_tot=s_v,
                end_v_tot=e_v,
                meter_vol=_meter(s_v, e_v),
                forced=p.forced,
                off_asn=p.off_asn,
            )
        )
    employee_rows: list[ReportEmployee] = []
    for emp in sorted(set(duties) | set(per_emp)):
        acc = per_emp.get(emp, _Acc())
        emp_duties = tuple(duties.get(emp, ()))
        meters = [d.meter_vol for d in emp_duties]
        meter = sum(m for m in meters if m is not None) if meters and None not in meters else None
        diff = None if meter is None or emp == EMP_NONE else meter - acc.vol
        employee_rows.append(
            ReportEmployee(
                emp=emp,
                duties=emp_duties,
                meter_vol=meter,
                sales_count=acc.count,
                sales_vol=acc.vol,
                sales_amn=acc.amn,
                payments=acc.sorted_payments(),
                difference=diff,
                flagged=diff is not None and abs(diff) > tolerance,
            )
        )

    report = ShiftReport(
        shift=shift_view(shift),
        generated_at=iso_instant(now),
        final=final,
        nozzles=tuple(nozzle_rows),
        employees=tuple(employee_rows),
        payments=total.sorted_payments(),
        sales_count=total.count,
        sales_vol=total.vol,
        sales_amn=total.amn,
        flagged=sum(n.flagged for n in nozzle_rows) + sum(e.flagged for e in employee_rows),
        tolerance=tolerance,
    )
    return replace(report, text=report_text(report, title=title), csv=report_csv(report))


def _v(reading: Reading | None) -> int | None:
    return None if reading is None else reading.v_tot
