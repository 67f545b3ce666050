"""Station shifts and the handover report: totalizers against recorded sales, per nozzle and employee.

Layer: storage. A shift is opened and closed by operators (`shifts`); the nozzle volume totals read
(0x38) at its start and end are kept in `shift_totals`; the final report is frozen as JSON at close.
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

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from protocol.i18n import N_, Translator, clip, ljust, rjust
from protocol.words import EMP_NONE, PAYMENT_MODES, centi, payment_words
from storage.clock import Clock, iso_instant, parse_instant, utc_now
from storage.db import Database, Tx
from storage.errors import StorageError

COUNTED_KINDS = frozenset({0, 1, 3, 4, 7, 9})
DISPENSED_KINDS = frozenset({0, 1, 7, 9})
ON_DUTY, OFF_DUTY, GREY = 5, 6, 1
EMPLOYEE_CARD_KIND = "04"
GREY_BUCKET = "grey_unpaid"
DUTY_LOOKBACK = dt.timedelta(days=31)
"""How far before a shift's start on-duty records are looked for (a duty period longer than this is
reported from the shift's start)."""
V_TOT_MODULUS = 1 << 32


class ShiftError(StorageError):
    """A shift operation that cannot be done (one is already open, none is open, unknown id)."""


class ShiftOrderError(ShiftError):
    """A shift would close before it opened, or open before the previous one closed (a clock step)."""


@dataclass(frozen=True, slots=True)
class ShiftRow:
    id: int
    opened_at: dt.datetime
    opened_by: str
    note: str = ""
    closed_at: dt.datetime | None = None
    closed_by: str = ""
    handed_to: str = ""
    first_record_id: int | None = None
    """Journal rows with an id above this arrived during the shift (None: a shift from before 0160)."""
    last_record_id: int | None = None
    """... up to this one (set at close)."""

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class Reading:
    """One nozzle's volume total at a shift's start or end."""

    line: str
    dispenser: int
    nzn: int
    v_tot: int
    read_at: dt.datetime
    fresh: bool = True


@dataclass(frozen=True, slots=True)
class NozzleRef:
    """A configured nozzle, for the report's rows and product names."""

    line: str
    dispenser: int
    nzn: int
    g_code: str = ""
    product: str = ""

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.line, self.dispenser, self.nzn)


# --- the report (same field names as edge.control.messages.ShiftReport, so it maps 1:1) ----------


@dataclass(frozen=True, slots=True)
class ShiftView:
    id: int
    opened_at: str
    opened_by: str
    closed_at: str = ""
    closed_by: str = ""
    handed_to: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportPayment:
    mode: str
    count: int = 0
    vol: int = 0
    amn: int = 0


@dataclass(frozen=True, slots=True)
class ReportNozzle:
    line: str
    dispenser: int
    nzn: int
    g_code: str = ""
    product: str = ""
    start_v_tot: int | None = None
    end_v_tot: int | None = None
    start_read_at: str = ""
    end_read_at: str = ""
    meter_vol: int | None = None
    sales_count: int = 0
    sales_vol: int = 0
    sales_amn: int = 0
    payments: tuple[ReportPayment, ...] = ()
    difference: int | None = None
    flagged: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportDuty:
    line: str
    dispenser: int
    nzn: int
    emp: int
    on_at: str = ""
    off_at: str = ""
    start_v_tot: int | None = None
    end_v_tot: int | None = None
    meter_vol: int | None = None
    forced: bool = False
    off_asn: str = ""


@dataclass(frozen=True, slots=True)
class ReportEmployee:
    emp: int
    duties: tuple[ReportDuty, ...] = ()
    meter_vol: int | None = None
    sales_count: int = 0
    sales_vol: int = 0
    sales_amn: int = 0
    payments: tuple[ReportPayment, ...] = ()
    difference: int | None = None
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class ShiftReport:
    shift: ShiftView
    generated_at: str
    final: bool = False
    nozzles: tuple[ReportNozzle, ...] = ()
    employees: tuple[ReportEmployee, ...] = ()
    payments: tuple[ReportPayment, ...] = ()
    sales_count: int = 0
    sales_vol: int = 0
    sales_amn: int = 0
    flagged: int = 0
    tolerance: int = 0
    text: str = ""
    csv: str = ""


# --- reading rows ---------------------------------------------------------------------------------


class _Reader(Protocol):
    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class _TxReader:
    tx: Tx

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.tx.execute(sql, params)


@dataclass(frozen=True, slots=True)
class _DbReader:
    db: Database

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.db.fetchall(sql, params)


def _shift(row: Any) -> ShiftRow:
    return ShiftRow(
        id=int(row["id"]),
        opened_at=parse_instant(row["opened_at"]),
        opened_by=row["opened_by"],
        note=row["note"],
        closed_at=parse_instant(row["closed_at"]) if row["closed_at"] else None,
        closed_by=row["closed_by"],
        handed_to=row["handed_to"],
        first_record_id=row["first_record_id"],
        last_record_id=row["last_record_id"],
    )


def shift_view(shift: ShiftRow) -> ShiftView:
    return ShiftView(
        id=shift.id,
        opened_at=iso_instant(shift.opened_at),
        opened_by=shift.opened_by,
        closed_at=iso_instant(shift.closed_at) if shift.closed_at else "",
        closed_by=shift.closed_by,
        handed_to=shift.handed_to,
        note=shift.note,
    )


async def current_in(tx: Tx) -> ShiftRow | None:
    row = await tx.fetchone("SELECT * FROM shifts WHERE closed_at IS NULL")
    return None if row is None else _shift(row)


async def open_in(
    tx: Tx, by: str, readings: Iterable[Reading], *, now: dt.datetime, note: str = ""
) -> ShiftRow:
    """Open a shift with its start totals; `ShiftError` if one is open already."""
    if await current_in(tx) is not None:
        raise ShiftError("a shift is already open: close it (hand over) first")
    last = await tx.fetchone("SELECT max(closed_at), max(opened_at) FROM shifts")
    newest = max((str(t) for t in (last or ()) if t), default=None)
    if newest is not None and iso_instant(now) < newest:
        raise ShiftOrderError(
            f"a shift cannot open at {iso_instant(now)}, before the previous one's {newest} "
            "(the wall clock is behind: check it)"
        )
    row = await tx.one(
        "INSERT INTO shifts (opened_at, opened_by, note, first_record_id) VALUES (?, ?, ?, "
        "(SELECT coalesce(max(id), 0) FROM transactions)) RETURNING *",
        (iso_instant(now), by, note),
    )
    shift = _shift(row)
    await _store_readings(tx, shift.id, "start", readings)
    return shift


async def close_in(
    tx: Tx,
    by: str,
    readings: Iterable[Reading],
    *,
    now: dt.datetime,
    nozzles: Sequence[NozzleRef],
    handed_to: str = "",
    tolerance: int = 0,
    title: str = "",
) -> tuple[ShiftRow, ShiftReport]:
    """Close the open shift with its end totals and freeze its final report (built inside the same
    transaction, so no record can slip between the report and the close)."""
    shift = await current_in(tx)
    if shift is None:
        raise ShiftError("no shift is open")
    if now < shift.opened_at:
        raise ShiftOrderError(
            f"shift {shift.id} cannot close at {iso_instant(now)}, before it opened at "
            f"{iso_instant(shift.opened_at)} (the wall clock is behind: check it)"
        )
    await _store_readings(tx, shift.id, "end", readings)
    last_id = await tx.one("SELECT coalesce(max(id), 0) FROM transactions")
    closed = replace(shift, closed_at=now, closed_by=by, handed_to=handed_to, last_record_id=int(last_id[0]))
    report = await build_report(
        _TxReader(tx), closed, nozzles=nozzles, tolerance=tolerance, now=now, final=True, title=title
    )
    await tx.execute(
        "UPDATE shifts SET closed_at = ?, closed_by = ?, handed_to = ?, report = ?, last_record_id = ? "
        "WHERE id = ?",
        (iso_instant(now), by, handed_to, json.dumps(report_json(report)), closed.last_record_id, shift.id),
    )
    return closed, report


async def _store_readings(tx: Tx, shift_id: int, phase: str, readings: Iterable[Reading]) -> None:
    for r in readings:
        await tx.execute(
            "INSERT OR REPLACE INTO shift_totals (shift_id, phase, line, dispenser, nzn, v_tot, read_at, fresh)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (shift_id, phase, r.line, r.dispenser, r.nzn, r.v_tot, iso_instant(r.read_at), int(r.fresh)),
        )


async def _readings(reader: _Reader, shift_id: int, phase: str) -> dict[tuple[str, int, int], Reading]:
    rows = await reader.rows(
        "SELECT * FROM shift_totals WHERE shift_id = ? AND phase = ? ORDER BY line, dispenser, nzn",
        (shift_id, phase),
    )
    return {
        (r["line"], int(r["dispenser"]), int(r["nzn"])): Reading(
            r["line"],
            int(r["dispenser"]),
            int(r["nzn"]),
            int(r["v_tot"]),
            parse_instant(r["read_at"]),
            bool(r["fresh"]),
        )
        for r in rows
    }


def report_json(report: ShiftReport) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if hasattr(value, "__dataclass_fields__"):
            return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    out: dict[str, Any] = plain(report)
    return out


class ShiftStore:
    """Reads of shifts and reports; writes go through `open_in` / `close_in` inside a transaction."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def current(self) -> ShiftRow | None:
        row = await self.db.fetchone("SELECT * FROM shifts WHERE closed_at IS NULL")
        return None if row is None else _shift(row)

    async def get(self, shift_id: int) -> ShiftRow | None:
        row = await self.db.fetchone("SELECT * FROM shifts WHERE id = ?", (shift_id,))
        return None if row is None else _shift(row)

    async def recent(self, limit: int = 20) -> list[ShiftRow]:
        rows = await self.db.fetchall("SELECT * FROM shifts ORDER BY id DESC LIMIT ?", (limit,))
        return [_shift(r) for r in rows]

    async def readings(self, shift_id: int, phase: str) -> list[Reading]:
        return list((await _readings(_DbReader(self.db), shift_id, phase)).values())

    async def stored_report(self, shift_id: int) -> dict[str, Any] | None:
        """The frozen final report of a closed shift (JSON), None while open."""
        row = await self.db.fetchone("SELECT report FROM shifts WHERE id = ?", (shift_id,))
        if row is None or row[0] is None:
            return None
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    async def provisional_report(
        self,
        shift: ShiftRow,
        end_readings: Sequence[Reading],
        *,
        nozzles: Sequence[NozzleRef],
        tolerance: int = 0,
        title: str = "",
    ) -> ShiftReport:
        """The report of the open shift as of now, against the given (latest) end readings."""
        now = self.clock()
        return await build_report(
            _DbReader(self.db),
            shift,
            nozzles=nozzles,
            tolerance=tolerance,
            now=now,
            final=False,
            end_override={(r.line, r.dispenser, r.nzn): r for r in end_readings},
            title=title,
        )


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
    reader: _Reader,
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
    start_readings = await _readings(reader, shift.id, "start")
    end_readings = end_override if end_override is not None else await _readings(reader, shift.id, "end")

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


NOTE_NO_READING = {
    (True, False): N_("no totalizer reading at start"),
    (False, True): N_("no totalizer reading at end"),
    (True, True): N_("no totalizer reading at start and end"),
}
NOTE_STALE = N_("totalizer from the last stored reading (dispenser did not answer)")
NOTE_WRAPPED = N_("totalizer wrapped")
NOTE_SEPARATOR = "; "
"""A nozzle's note is its notes (English source texts) joined: translated one by one when shown."""


def note_words(note: str, tr: Translator) -> str:
    return NOTE_SEPARATOR.join(tr(part) for part in note.split(NOTE_SEPARATOR)) if note else ""


def _v(reading: Reading | None) -> int | None:
    return None if reading is None else reading.v_tot


# --- rendering ------------------------------------------------------------------------------------


def fmt_centi(value: int | None) -> str:
    """0.01 units (volume, money) as a decimal: 12345 → '123.45'; None → 'n/a'."""
    return "n/a" if value is None else _fmt(value)


def _fmt(value: int) -> str:
    return centi(value)


def _local(text: str) -> str:
    if not text:
        return "-"
    return parse_instant(text).astimezone().strftime("%Y-%m-%d %H:%M")


REPORT_WIDTH = 78
"""Columns of the printed report (fits an 80-column terminal beside a scrollbar); a Chinese character
counts two columns (`protocol.i18n.cells`)."""
ENGLISH = Translator("en")
"""The language-neutral rendering: what is frozen with the report and sent to the centre. People get
the report rendered again in their own language (`render`)."""


def _row(*columns: tuple[str, int, str]) -> str:
    """Columns of (text, width, '<' or '>'), padded by terminal cells, separated as given."""
    out = []
    for text, width, align in columns:
        out.append(ljust(clip(text, width), width) if align == "<" else rjust(text, width))
    return "".join(out)


def report_text(report: ShiftReport, *, title: str = "", tr: Translator = ENGLISH) -> str:
    """The report as printable text in `tr`'s language, at most `REPORT_WIDTH` columns for usual figures."""
    s = report.shift
    state = tr("final") if report.final else tr("provisional")
    closed = (
        tr("Closed {at} by {who}").format(at=_local(s.closed_at), who=s.closed_by)
        if s.closed_at
        else tr("Still open")
    )
    if s.handed_to:
        closed += tr(", handed over to {who}").format(who=s.handed_to)
    out = [
        tr("SHIFT HANDOVER REPORT  #{id}  ({state})").format(id=s.id, state=state),
        *([title] if title else []),
        tr("Opened {at} by {who}").format(at=_local(s.opened_at), who=s.opened_by),
        closed,
        tr("Generated {at}; difference tolerance {tolerance}").format(
            at=_local(report.generated_at), tolerance=fmt_centi(report.tolerance)
        ),
        "",
        _row(
            (tr("NOZZLE"), 10, "<"),
            (" ", 1, "<"),
            (tr("PROD"), 5, "<"),
            (tr("TOT START"), 10, ">"),
            (tr("TOT END"), 11, ">"),
            (tr("METER"), 9, ">"),
            (tr("N"), 5, ">"),
            (tr("VOLUME"), 10, ">"),
            (tr("AMOUNT"), 10, ">"),
            (tr("DIFF"), 6, ">"),
        ),
    ]
    for n in report.nozzles:
        out.append(
            _row((f"{n.line}/{n.dispenser}/{n.nzn}", 10, "<"), (" ", 1, "<"), (n.product, 5, "<"))
            + f"{fmt_centi(n.start_v_tot):>10} {fmt_centi(n.end_v_tot):>10}"
            f" {fmt_centi(n.meter_vol):>8} {n.sales_count:>4} {fmt_centi(n.sales_vol):>9}"
            f" {fmt_centi(n.sales_amn):>9} {fmt_centi(n.difference):>5}{'!' if n.flagged else ''}"
        )
    flagged = [n for n in report.nozzles if n.flagged]
    for n in flagged:
        out.append(
            "! "
            + tr("{nozzle}: totalizer moved {meter}, records {records}: difference {difference}").format(
                nozzle=f"{n.line}/{n.dispenser}/{n.nzn}",
                meter=fmt_centi(n.meter_vol),
                records=fmt_centi(n.sales_vol),
                difference=fmt_centi(n.difference),
            )
        )
    for n in report.nozzles:
        if n.note:
            out.append(f"  {n.line}/{n.dispenser}/{n.nzn}: {note_words(n.note, tr)}")
    out += [
        "",
        _row((tr("PAYMENT"), 14, "<"), (tr("N"), 7, ">"), (tr("VOLUME"), 11, ">"), (tr("AMOUNT"), 12, ">")),
    ]
    for p in report.payments:
        out.append(
            _row((payment_words(p.mode, tr), 14, "<"))
            + f"{p.count:>7} {fmt_centi(p.vol):>10} {fmt_centi(p.amn):>11}"
        )
    out.append(
        _row((tr("TOTAL"), 14, "<"))
        + f"{report.sales_count:>7} {fmt_centi(report.sales_vol):>10} {fmt_centi(report.sales_amn):>11}"
    )
    out += [
        "",
        _row(
            (tr("EMPLOYEE"), 10, "<"),
            (tr("DUTIES"), 7, ">"),
            (tr("METER"), 10, ">"),
            (tr("N"), 6, ">"),
            (tr("VOLUME"), 11, ">"),
            (tr("AMOUNT"), 11, ">"),
            (tr("DIFF"), 8, ">"),
        ),
    ]
    for e in report.employees:
        who = tr("none") if e.emp == EMP_NONE else tr("emp {number}").format(number=e.emp)
        out.append(
            _row((who, 10, "<")) + f" {len(e.duties):>6} {fmt_centi(e.meter_vol):>9} {e.sales_count:>5}"
            f" {fmt_centi(e.sales_vol):>10} {fmt_centi(e.sales_amn):>10} {fmt_centi(e.difference):>7}"
            + ("!" if e.flagged else "")
        )
        for d in e.duties:
            out.append(
                f"  {d.line}/{d.dispenser}/{d.nzn} {_local(d.on_at)} - {_local(d.off_at)} "
                + tr("tot {start}..{end}").format(start=fmt_centi(d.start_v_tot), end=fmt_centi(d.end_v_tot))
            )
            if d.forced:
                out.append("    " + tr("FORCED OFF (verification card {card})").format(card=d.off_asn))
    out.append("")
    if report.flagged:
        out.append(tr("{n} difference(s) flagged.").format(n=report.flagged))
    else:
        out.append(tr("No differences."))
    return "\n".join(out) + "\n"


CSV_COLUMNS = (
    N_("section"), N_("line"), N_("dispenser"), N_("nzn"), N_("emp"), N_("product"), N_("mode"),
    N_("totalizer_start"), N_("totalizer_end"), N_("meter_volume"), N_("count"), N_("volume"), N_("amount"),
    N_("difference"), N_("flagged"), N_("note"),
)  # fmt: skip
"""The CSV header in English (the language-neutral export); `report_csv` writes it in the reader's
language."""
CSV_SECTIONS = {
    "nozzle": N_("nozzle"),
    "nozzle_payment": N_("nozzle_payment"),
    "employee": N_("employee"),
    "duty": N_("duty"),
    "payment": N_("payment"),
}


def report_csv(report: ShiftReport, tr: Translator = ENGLISH) -> str:
    """The report as CSV (volumes in units, money in yuan, both with two decimals; empty: not known);
    header, section names, payment modes and notes in `tr`'s language."""

    def fmt_centi(value: int | None) -> str:
        return "" if value is None else _fmt(value)

    def section(name: str) -> str:
        return tr(CSV_SECTIONS[name])

    def mode(name: str) -> str:
        return payment_words(name, tr) if tr.language != "en" else name

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([tr(c) for c in CSV_COLUMNS])
    for n in report.nozzles:
        w.writerow(
            [section("nozzle"), n.line, n.dispenser, n.nzn, "", n.product, "", fmt_centi(n.start_v_tot),
             fmt_centi(n.end_v_tot), fmt_centi(n.meter_vol), n.sales_count, fmt_centi(n.sales_vol),
             fmt_centi(n.sales_amn), fmt_centi(n.difference), int(n.flagged), note_words(n.note, tr)]
        )  # fmt: skip
        for p in n.payments:
            w.writerow(
                [section("nozzle_payment"), n.line, n.dispenser, n.nzn, "", n.product, mode(p.mode), "", "", "",
                 p.count, fmt_centi(p.vol), fmt_centi(p.amn), "", "", ""]
            )  # fmt: skip
    for e in report.employees:
        w.writerow(
            [section("employee"), "", "", "", e.emp, "", "", "", "", fmt_centi(e.meter_vol), e.sales_count,
             fmt_centi(e.sales_vol), fmt_centi(e.sales_amn), fmt_centi(e.difference), int(e.flagged), ""]
        )  # fmt: skip
        for d in e.duties:
            w.writerow(
                [section("duty"), d.line, d.dispenser, d.nzn, d.emp, "", "", fmt_centi(d.start_v_tot),
                 fmt_centi(d.end_v_tot), fmt_centi(d.meter_vol), "", "", "", "", "",
                 tr("forced off by verification card") if d.forced else ""]
            )  # fmt: skip
    for p in report.payments:
        w.writerow(
            [section("payment"), "", "", "", "", "", mode(p.mode), "", "", "", p.count, fmt_centi(p.vol),
             fmt_centi(p.amn), "", "", ""]
        )  # fmt: skip
    return buf.getvalue()


def render(report: ShiftReport, tr: Translator, *, title: str = "") -> ShiftReport:
    """The same report with its text and CSV in `tr`'s language (for the person who asked)."""
    return replace(report, text=report_text(report, title=title, tr=tr), csv=report_csv(report, tr))


def report_from_json(doc: dict[str, Any]) -> ShiftReport:
    """A report back from `report_json` (the frozen report of a closed shift)."""

    def payments(items: Iterable[dict[str, Any]]) -> tuple[ReportPayment, ...]:
        return tuple(ReportPayment(**p) for p in items)

    return ShiftReport(
        **{
            **doc,
            "shift": ShiftView(**doc["shift"]),
            "nozzles": tuple(
                ReportNozzle(**{**n, "payments": payments(n.get("payments", ()))})
                for n in doc.get("nozzles", ())
            ),
            "employees": tuple(
                ReportEmployee(
                    **{
                        **e,
                        "duties": tuple(ReportDuty(**d) for d in e.get("duties", ())),
                        "payments": payments(e.get("payments", ())),
                    }
                )
                for e in doc.get("employees", ())
            ),
            "payments": payments(doc.get("payments", ())),
        }
    )
