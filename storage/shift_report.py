"""The shift report's types (same field names as `edge.control.messages.ShiftReport`, so it maps 1:1),
its JSON form (frozen with a closed shift) and the words of its notes.

Layer: storage (pure data; built by `storage.shift_build`, rendered by `storage.shift_render`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from protocol.i18n import N_, Translator
from storage.clock import iso_instant
from storage.shift_rows import ShiftRow


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


def report_json(report: ShiftReport) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if hasattr(value, "__dataclass_fields__"):
            return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    out: dict[str, Any] = plain(report)
    return out


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
