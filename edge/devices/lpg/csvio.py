"""Cylinder registry CSV import and export.

Layer: edge (pure). Columns (header row required, UTF-8, comma-separated):

    barcode,spec,tare_kg,manufactured_on,last_inspection,next_inspection,scrap_on,owner,state

`last_inspection`, `scrap_on`, `owner` and `state` may be empty: the scrap date then follows from the
design life (manufacture + design_life_years, + extension_years when an inspection was passed), the
owner is `station` and the state `empty`. A file with any bad line is refused whole (`BadCylinderFile`
naming every line and column); nothing is half-imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable

from edge.devices.lpg.errors import BadCylinderFile
from edge.devices.lpg.specs import LpgSettings, add_years
from storage.lpg import CylinderRow, CylinderState

__all__ = ["COLUMNS", "dump_csv", "parse_csv"]

COLUMNS = (
    "barcode",
    "spec",
    "tare_kg",
    "manufactured_on",
    "last_inspection",
    "next_inspection",
    "scrap_on",
    "owner",
    "state",
)
REQUIRED = ("barcode", "spec", "tare_kg", "manufactured_on", "next_inspection")


def _day(text: str, where: str, problems: list[str]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems.append(f"{where}: {text!r} is not a date (YYYY-MM-DD)")
        return None


def parse_csv(text: str, settings: LpgSettings) -> list[CylinderRow]:
    """Every row of a registry file, or `BadCylinderFile` with every problem."""
    problems: list[str] = []
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise BadCylinderFile([f"line 1: missing column(s) {', '.join(missing)}"])
    rows: list[CylinderRow] = []
    seen: set[str] = set()
    for n, raw in enumerate(reader, start=2):

        def cell(name: str, raw: dict[str, str | None] = raw) -> str:
            return (raw.get(name) or "").strip()

        before = len(problems)
        barcode = cell("barcode")
        if not barcode:
            problems.append(f"line {n}: barcode: empty")
        elif barcode in seen:
            problems.append(f"line {n}: barcode: {barcode} appears twice")
        seen.add(barcode)
        spec = cell("spec")
        if spec not in settings.specs:
            problems.append(f"line {n}: spec: {spec!r} is not a configured specification")
        tare: float | None = None
        try:
            tare = float(cell("tare_kg"))
            if not math.isfinite(tare) or tare <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"line {n}: tare_kg: {cell('tare_kg')!r} is not a positive weight")
        made = _day(cell("manufactured_on"), f"line {n}: manufactured_on", problems)
        last = (
            _day(cell("last_inspection"), f"line {n}: last_inspection", problems)
            if cell("last_inspection")
            else None
        )
        nxt = _day(cell("next_inspection"), f"line {n}: next_inspection", problems)
        scrap = _day(cell("scrap_on"), f"line {n}: scrap_on", problems) if cell("scrap_on") else None
        state = CylinderState.EMPTY
        if cell("state"):
            try:
                state = CylinderState(cell("state"))
            except ValueError:
                problems.append(
                    f"line {n}: state: {cell('state')!r} is not one of {', '.join(CylinderState)}"
                )
        if len(problems) > before or made is None or nxt is None or tare is None:
            continue
        if scrap is None:
            scrap = add_years(made, settings.design_life_years + (settings.extension_years if last else 0))
        rows.append(
            CylinderRow(barcode, spec, tare, made, last, nxt, scrap, cell("owner") or "station", state)
        )
    if problems:
        raise BadCylinderFile(problems)
    return rows


def dump_csv(rows: Iterable[CylinderRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c in rows:
        writer.writerow(
            (
                c.barcode,
                c.spec,
                "" if c.tare_kg is None else f"{c.tare_kg:g}",
                c.manufactured_on.isoformat(),
                "" if c.last_inspection is None else c.last_inspection.isoformat(),
                c.next_inspection.isoformat(),
                c.scrap_on.isoformat(),
                c.owner,
                c.state.value,
            )
        )
    return out.getvalue()
