"""The shift report as text (printable, 78 columns, wide characters counted as two) and as CSV, in the
reader's language.

Layer: storage (pure rendering of `storage.shift_report.ShiftReport`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from protocol.i18n import N_, Translator, clip, ljust, rjust
from protocol.words import EMP_NONE, centi, payment_words
from storage.clock import parse_instant
from storage.shift_report import ShiftReport, note_words

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
