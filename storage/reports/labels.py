"""Every word of a report a person reads: titles, section names, column headers, units, code names.

Layer: storage (pure data). The one place to translate reports: renderers (text, CSV, XLSX, PDF text,
the TUI screen) take their words from here and nowhere else. Keys are stable identifiers; machine
formats (JSON, the CSV `section` and key columns) use the keys, people read the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocol.i18n import N_, Translator, translator
from protocol.words import KIND_NAMES, KIND_WORDS, PAYMENT_MODES, PAYMENT_WORDS

TITLES: Final = {
    "day": N_("DAY REPORT"),
    "month": N_("MONTH REPORT"),
    "year": N_("YEAR REPORT"),
    "period": N_("PERIOD REPORT"),
    "shift": N_("SHIFT REPORT"),
    "card": N_("CARD STATEMENT"),
    "plate": N_("PLATE STATEMENT"),
    "records": N_("RECORDS"),
    "greys": N_("GREY RECORDS OUTSTANDING"),
    "prices": N_("PRICE CHANGES AND RECEIPTS"),
    "closes": N_("CLOSED DAYS"),
    "stock": N_("STATION STOCK IN / OUT (TANK RECONCILIATION)"),
}

SECTIONS: Final = {
    "product": N_("By product"),
    "nozzle": N_("By nozzle"),
    "dispenser": N_("By dispenser"),
    "employee": N_("By employee"),
    "payment": N_("By payment mode"),
    "mode": N_("By consumption mode"),
    "card_kind": N_("By card kind"),
    "day": N_("By day"),
    "month": N_("By month"),
    "hour": N_("By hour"),
    "adjustments": N_("Adjustments after the close"),
}

WORDS: Final = {
    "station": N_("Station {station}"),
    "period": N_("From {start} to {end}"),
    "closed": N_("Closed {at} by {who}; {state}"),
    "generated": N_("Generated {at}"),
    "total": N_("TOTAL"),
    "open_day": N_("Not closed"),
    "frozen_ok": N_("frozen figures verified"),
    "frozen_bad": N_("FROZEN FIGURES DIFFER FROM THE RECORDS"),
    "no_rows": N_("(no records)"),
    "none": N_("none"),
    "employee": N_("emp {n}"),
    "adjustment_note": N_("records of this day received after the close (not in the frozen figures)"),
    "units_note": N_("Volume in the product's unit (L, m3, kg); amounts in yuan (¥)."),
    "archived": N_("archived"),
}
"""Sentences and words of the reports; placeholders are named and filled after translation."""


@dataclass(frozen=True, slots=True)
class Column:
    """A report column: stable key, header for people, unit (empty: none), cell type."""

    key: str
    header: str
    unit: str = ""
    type: str = "text"
    """`text`, `int` (exact integer in the unit shown), `date`, `datetime`."""

    @property
    def heading(self) -> str:
        """Header with its unit and type, as in CSV and XLSX files: `Amount [fen, int]` (English)."""
        return self.heading_in(ENGLISH)

    def heading_in(self, tr: Translator) -> str:
        """The header in `tr`'s language: `Amount [fen, int]`, `金额 [分, 整数]`."""
        header, unit, kind = tr(self.header), unit_words(self.unit, tr), tr(TYPE_WORDS.get(self.type, self.type))
        return f"{header} [{unit + ', ' if unit else ''}{kind}]"

    def title_in(self, tr: Translator) -> str:
        """The header alone, in `tr`'s language (printable text)."""
        return tr(self.header)


FIGURE_COLUMNS: Final = (
    Column("count", N_("Records"), "records", "int"),
    Column("volume", N_("Volume"), "0.01 unit", "int"),
    Column("amount", N_("Amount"), "fen", "int"),
)
SECTION_COLUMNS: Final = (
    Column("section", N_("Section")),
    Column("key", N_("Key")),
    Column("label", N_("Item")),
    Column("unit", N_("Volume unit")),
    *FIGURE_COLUMNS,
)
RECORD_COLUMNS: Final = (
    Column("id", N_("Row"), "", "int"),
    Column("time", N_("Time"), "station local", "datetime"),
    Column("business_day", N_("Business day"), "", "date"),
    Column("line", N_("Line")),
    Column("dispenser", N_("Dispenser"), "", "int"),
    Column("nzn", N_("Nozzle"), "", "int"),
    Column("pos_ttc", N_("POS_TTC"), "", "int"),
    Column("kind", N_("Kind")),
    Column("payment", N_("Payment")),
    Column("asn", N_("Card")),
    Column("g_code", N_("Product code")),
    Column("product", N_("Product")),
    Column("volume", N_("Volume"), "0.01 unit", "int"),
    Column("price", N_("Unit price"), "fen", "int"),
    Column("amount", N_("Amount"), "fen", "int"),
    Column("balance", N_("Card balance"), "fen", "int"),
    Column("ctc", N_("Card counter"), "", "int"),
    Column("emp", N_("Employee"), "", "int"),
)
GREY_COLUMNS: Final = (
    Column("id", N_("Row"), "", "int"),
    Column("time", N_("Locked at"), "station local", "datetime"),
    Column("line", N_("Line")),
    Column("dispenser", N_("Dispenser"), "", "int"),
    Column("nzn", N_("Nozzle"), "", "int"),
    Column("asn", N_("Card")),
    Column("ctc", N_("Card counter"), "", "int"),
    Column("balance", N_("Card balance"), "fen", "int"),
    Column("amount", N_("Amount owed"), "fen", "int"),
    Column("volume", N_("Volume"), "0.01 unit", "int"),
)
PRICE_COLUMNS: Final = (
    Column("version", N_("Price version"), "", "int"),
    Column("effective", N_("Effective"), "station local", "datetime"),
    Column("imported_at", N_("Imported"), "UTC", "datetime"),
    Column("activated_at", N_("Advertised"), "UTC", "datetime"),
    Column("line", N_("Line")),
    Column("dispenser", N_("Dispenser"), "", "int"),
    Column("received_at", N_("Receipt"), "UTC", "datetime"),
)
CLOSE_COLUMNS: Final = (
    Column("day", N_("Business day"), "", "date"),
    Column("closed_at", N_("Closed"), "UTC", "datetime"),
    Column("closed_by", N_("Closed by")),
    Column("count", N_("Records"), "records", "int"),
    Column("volume", N_("Volume"), "0.01 unit", "int"),
    Column("amount", N_("Amount"), "fen", "int"),
    Column("adjustments", N_("Adjustments"), "records", "int"),
    Column("archived", N_("Archived")),
)

STOCK_COLUMNS: Final = (
    Column("tank", N_("Tank"), "", "int"),
    Column("product", N_("Product")),
    Column("period_start", N_("From"), "UTC", "datetime"),
    Column("period_end", N_("To"), "UTC", "datetime"),
    Column("opening_l", N_("Opening"), "L (15 °C)", "number"),
    Column("deliveries_l", N_("Stock in"), "L (15 °C)", "number"),
    Column("sales_l", N_("Stock out (sales)"), "L (15 °C)", "number"),
    Column("book_closing_l", N_("Book closing"), "L (15 °C)", "number"),
    Column("measured_closing_l", N_("Measured closing"), "L (15 °C)", "number"),
    Column("variance_l", N_("Variance"), "L", "number"),
    Column("variance_pct", N_("Variance"), "%", "number"),
    Column("deliveries_t", N_("Stock in"), "t", "number"),
    Column("sales_t", N_("Stock out (sales)"), "t", "number"),
    Column("variance_t", N_("Variance"), "t", "number"),
)

UNIT_WORDS: Final = {
    "records": N_("records"),
    "0.01 unit": N_("0.01 unit"),
    "fen": N_("fen"),
    "station local": N_("station local"),
    "L (15 °C)": N_("L (15 °C)"),
    "L": N_("L"),
    "m3": N_("m3"),
    "kg": N_("kg"),
    "t": N_("t"),
}
"""Units of columns and of product volumes (`UTC`, `%` read the same in every language)."""
TYPE_WORDS: Final = {
    "text": N_("text"),
    "int": N_("int"),
    "date": N_("date"),
    "datetime": N_("datetime"),
    "number": N_("number"),
}
"""Cell types named in CSV and XLSX headers."""
CARD_KIND_WORDS: Final = {
    "user": N_("user card"),
    "employee": N_("employee card"),
    "internal_05": N_("internal card 05"),
    "internal_06": N_("internal card 06"),
    "no_card": N_("no card"),
}
"""Card kind name (ASN digits 5-6) → words."""
VALUE_COLUMNS: Final = ("kind", "payment", "archived")
"""Listing columns whose values are code names, shown in words (`sale` → 正常交易); JSON keeps the codes."""

ENGLISH: Final = translator("en")
"""The source language: what renderers speak when no translator is given."""

KINDS: Final = KIND_NAMES
PAYMENTS: Final = PAYMENT_MODES
PAYMENT_OTHER: Final = "other"
GREY_UNPAID: Final = "grey_unpaid"
CARD_KINDS: Final = {"01": "user", "04": "employee", "05": "internal_05", "06": "internal_06"}
CARD_NONE: Final = "no_card"


def kind_name(kind: int) -> str:
    return KINDS.get(kind, f"kind_{kind}")


def payment_name(kind: int, pay_bits: int) -> str:
    """The payment bucket of a counted record: its UNIT b7..b4, or `grey_unpaid` for a grey record."""
    if kind == 1:
        return GREY_UNPAID
    return PAYMENTS.get(pay_bits, PAYMENT_OTHER)


def card_kind_name(code: str) -> str:
    """ASN digits 5-6 of a 20-digit card number; `no_card` for cash records (an all-zero ASN)."""
    if not code or code == "00":
        return CARD_NONE
    return CARD_KINDS.get(code, f"kind_{code}")


# --- words in a language --------------------------------------------------------------------------


def title(kind: str, tr: Translator = ENGLISH) -> str:
    """A report's or listing's title (`day` → `DAY REPORT`, `日报表`)."""
    words = TITLES.get(kind)
    return tr(words) if words else kind.upper()


def section_title(dimension: str, tr: Translator = ENGLISH) -> str:
    words = SECTIONS.get(dimension)
    return tr(words) if words else dimension


def word(key: str, tr: Translator = ENGLISH) -> str:
    """One of `WORDS` in `tr`'s language (placeholders still to fill)."""
    return tr(WORDS[key])


def unit_words(unit: str, tr: Translator = ENGLISH) -> str:
    words = UNIT_WORDS.get(unit)
    return tr(words) if words else unit


def kind_words(name: str, tr: Translator = ENGLISH) -> str:
    """A record kind's words (`grey_unlock` → `grey unlock`, `解灰交易`)."""
    words = KIND_WORDS.get(name)
    return tr(words) if words else name


def payment_words(name: str, tr: Translator = ENGLISH) -> str:
    words = PAYMENT_WORDS.get(name)
    return tr(words) if words else name


def card_kind_words(name: str, tr: Translator = ENGLISH) -> str:
    words = CARD_KIND_WORDS.get(name)
    return tr(words) if words else name


def employee_words(key: str, tr: Translator = ENGLISH) -> str:
    """An employee row (`003`) in words: `emp 3`, `员工 3`; the no-employee row `none`, `无`."""
    try:
        emp = int(key)
    except ValueError:
        return key
    return word("none", tr) if emp == 255 else word("employee", tr).format(n=emp)


def row_label(dimension: str, key: str, label: str, tr: Translator = ENGLISH) -> str:
    """What a person reads for a report row: code names in words, other labels as the reader made them
    (product names come from the configuration, in the station's own words)."""
    match dimension:
        case "payment":
            return payment_words(key, tr)
        case "mode" | "adjustments":
            try:
                return kind_words(kind_name(int(key)), tr)
            except ValueError:
                return label
        case "card_kind":
            return card_kind_words(key, tr)
        case "employee":
            return employee_words(key, tr)
    return label


def value_words(column: str, value: object, tr: Translator = ENGLISH) -> object:
    """A listing cell for people: code names of `VALUE_COLUMNS` in words, anything else unchanged."""
    if not isinstance(value, str) or not value:
        return value
    match column:
        case "kind":
            return kind_words(value, tr)
        case "payment":
            return payment_words(value, tr)
        case "archived":
            return word("archived", tr) if value == "yes" else value
    return value


def report_words() -> list[str]:
    """Every source text of this module a person may read (what the catalogs must translate)."""
    columns = (
        *SECTION_COLUMNS,
        *RECORD_COLUMNS,
        *GREY_COLUMNS,
        *PRICE_COLUMNS,
        *CLOSE_COLUMNS,
        *STOCK_COLUMNS,
    )
    words = [*TITLES.values(), *SECTIONS.values(), *WORDS.values(), *(c.header for c in columns)]
    words += [*UNIT_WORDS.values(), *TYPE_WORDS.values(), *CARD_KIND_WORDS.values()]
    words += [*KIND_WORDS.values(), *PAYMENT_WORDS.values()]
    return list(dict.fromkeys(words))
