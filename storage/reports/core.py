"""The pure report core: figures, rows, sections, reports, and the check that everything adds up.

Layer: storage (pure). `query` reads one *cube* from the journal — the counted records of a period
grouped by every dimension a report needs, plus an independent grand total of the same records — and
`build_report` rolls the cube up into one section per dimension. Every figure is an exact integer in the
wire's units (count of records, volume in 0.01 of the product unit, money in fen). A report is refused
(`ReportMismatch`) unless every section's rows add up to the grand total of the records it covers.

Which records count (as in the shift handover report, storage.shifts):

    kind   0 sale, 7 cash, 9 card error   count, amount, volume
           1 grey (owed: grey_unpaid)     count, amount, volume
           3 unlock, 4 supplementary      count, amount (the fuel was counted by the earlier record)
           2, 5, 6, 8                     not counted (no money moved)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocol.words import EMP_NONE
from storage.errors import StorageError
from storage.reports import labels as L
from storage.reports.periods import Period

COUNTED_KINDS = (0, 1, 3, 4, 7, 9)
DISPENSED_KINDS = (0, 1, 7, 9)
DIMENSIONS = (
    "product",
    "nozzle",
    "dispenser",
    "employee",
    "payment",
    "mode",
    "card_kind",
    "day",
    "month",
    "hour",
)
"""Every breakdown a report can have (the cube's dimensions)."""
DEFAULT_DIMENSIONS = ("product", "payment", "mode", "nozzle", "employee", "card_kind")


class ReportError(StorageError):
    """A report that cannot be made (bad period, unknown dimension …)."""


class ReportMismatch(ReportError):
    """A section whose rows do not add up to the records the report covers (a bug or a damaged file)."""


@dataclass(frozen=True, slots=True)
class Figures:
    count: int = 0
    volume: int = 0
    amount: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.count + other.count, self.volume + other.volume, self.amount + other.amount)


def total_of(figures: Iterable[Figures]) -> Figures:
    out = Figures()
    for f in figures:
        out = out + f
    return out


@dataclass(frozen=True, slots=True)
class CubeRow:
    """One group of the period's counted records: its value per requested dimension and its figures."""

    dims: Mapping[str, Any]
    figures: Figures


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    """Stable key (`0102`, `bus1/1/2`, `cash`, `2026-12-03` …)."""
    label: str
    """What a person reads (`0102 92#`, `emp 3` …)."""
    figures: Figures
    unit: str = ""
    """Volume unit of the row (`L`, `m3`, `kg`); empty when the row mixes products."""


@dataclass(frozen=True, slots=True)
class Section:
    dimension: str
    rows: tuple[Row, ...]
    total: Figures


@dataclass(frozen=True, slots=True)
class ClosedDay:
    """The daily close of a day report's day, when it was closed."""

    day: str
    closed_at: str
    closed_by: str
    last_record_id: int
    verified: bool
    """The figures recomputed from the records equal the figures frozen at the close."""


@dataclass(frozen=True, slots=True)
class Report:
    station: str
    period: Period
    sections: tuple[Section, ...]
    total: Figures
    generated_at: str = ""
    closed: ClosedDay | None = None
    adjustments: Section | None = None

    def section(self, dimension: str) -> Section:
        for s in self.sections:
            if s.dimension == dimension:
                return s
        raise KeyError(dimension)


@dataclass(frozen=True, slots=True)
class Names:
    """What the configuration says about products (names and units), for labels."""

    products: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    densities: Mapping[str, float] = field(default_factory=dict)
    """Product code → kg per litre at 15 °C (the stock in tonnes; products without one: litres only)."""
    tank_products: Mapping[int, str] = field(default_factory=dict)
    """Tank number → the product code it holds (from `[tanks]`)."""


def tonnes(litres: float | None, density: float | None) -> float | None:
    """Litres at 15 °C as tonnes (kg/L × L / 1000), to the kilogram; None without a density."""
    if litres is None or density is None:
        return None
    return round(litres * density / 1000.0, 3)


def check_dimensions(dimensions: Sequence[str]) -> tuple[str, ...]:
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise ReportError(f"unknown breakdown {', '.join(unknown)} (known: {', '.join(DIMENSIONS)})")
    if not dimensions:
        raise ReportError("a report needs at least one breakdown")
    return tuple(dict.fromkeys(dimensions))


def _key_label(dimension: str, dims: Mapping[str, Any], names: Names) -> tuple[str, str, str]:
    """(key, label, unit) of a cube row in one dimension."""
    match dimension:
        case "product":
            code = str(dims["g_code"])
            name = names.products.get(code, "")
            return code, f"{code} {name}".strip(), names.units.get(code, "")
        case "nozzle":
            key = f"{dims['line']}/{dims['dispenser']}/{dims['nzn']}"
            code = str(dims["g_code"])
            return key, f"{key} {names.products.get(code, code)}", names.units.get(code, "")
        case "dispenser":
            key = f"{dims['line']}/{dims['dispenser']}"
            return key, key, ""
        case "employee":
            emp = int(dims["emp"])
            return (
                f"{emp:03d}",
                (L.WORDS["none"] if emp == EMP_NONE else L.WORDS["employee"].format(n=emp)),
                "",
            )
        case "payment":
            name = L.payment_name(int(dims["kind"]), int(dims["pay"]))
            return name, name, ""
        case "mode":
            name = L.kind_name(int(dims["kind"]))
            return f"{int(dims['kind']):02d}", name, ""
        case "card_kind":
            name = L.card_kind_name(str(dims["card_kind"]))
            return name, name, ""
        case "day" | "month" | "hour":
            text = str(dims[dimension])
            return text, text, ""
    raise ReportError(f"unknown breakdown {dimension!r}")


def rollup(cube: Sequence[CubeRow], dimension: str, names: Names) -> Section:
    """One section: the cube's figures summed by `dimension`, rows in key order."""
    acc: dict[str, tuple[str, str, Figures]] = {}
    for row in cube:
        key, label, unit = _key_label(dimension, row.dims, names)
        old = acc.get(key)
        if old is None:
            acc[key] = (label, unit, row.figures)
        else:
            acc[key] = (old[0], old[1] if old[1] == unit else "", old[2] + row.figures)
    rows = tuple(Row(k, label, f, unit) for k, (label, unit, f) in sorted(acc.items()))
    return Section(dimension, rows, total_of(r.figures for r in rows))


def build_report(
    station: str,
    period: Period,
    cube: Sequence[CubeRow],
    covered: Figures,
    dimensions: Sequence[str],
    *,
    names: Names,
    now: dt.datetime | None = None,
    closed: ClosedDay | None = None,
    adjustments: Section | None = None,
) -> Report:
    """Roll the cube up per dimension; `covered` is the independent total of the records covered."""
    sections = tuple(rollup(cube, d, names) for d in check_dimensions(dimensions))
    for s in sections:
        if s.total != covered:
            raise ReportMismatch(
                f"{period.name}: section {s.dimension} adds up to {s.total}, the records to {covered}"
            )
    return Report(
        station=station,
        period=period,
        sections=sections,
        total=covered,
        generated_at="" if now is None else now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        closed=closed,
        adjustments=adjustments,
    )


def figures_json(report: Report) -> dict[str, Any]:
    """The report's figures as plain JSON (no generation time): what a daily close freezes."""
    return {
        "period": {"kind": report.period.kind.value, "name": report.period.name,
                   "start": report.period.start_text, "end": report.period.end_text},
        "total": _fig(report.total),
        "sections": [
            {"dimension": s.dimension, "total": _fig(s.total),
             "rows": [{"key": r.key, "label": r.label, "unit": r.unit, **_fig(r.figures)} for r in s.rows]}
            for s in report.sections
        ],
    }  # fmt: skip


def report_json(report: Report) -> dict[str, Any]:
    doc = {"station": report.station, "generated_at": report.generated_at, **figures_json(report)}
    if report.closed is not None:
        c = report.closed
        doc["closed"] = {"day": c.day, "closed_at": c.closed_at, "closed_by": c.closed_by,
                         "last_record_id": c.last_record_id, "verified": c.verified}  # fmt: skip
    if report.adjustments is not None:
        a = report.adjustments
        doc["adjustments"] = {
            "total": _fig(a.total),
            "rows": [{"key": r.key, "label": r.label, **_fig(r.figures)} for r in a.rows],
        }
    return doc


def _fig(f: Figures) -> dict[str, int]:
    return {"count": f.count, "volume": f.volume, "amount": f.amount}
