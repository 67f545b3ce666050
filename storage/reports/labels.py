"""Every word of a report a person reads: titles, section names, column headers, units, code names.

Layer: storage (pure data). The one place to translate reports: renderers (text, CSV, XLSX, PDF text,
the TUI screen) take their words from here and nowhere else. Keys are stable identifiers; machine
formats (JSON, the CSV `section` and key columns) use the keys, people read the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocol.words import KIND_NAMES, PAYMENT_MODES

TITLES: Final = {
    "day": "DAY REPORT",
    "month": "MONTH REPORT",
    "year": "YEAR REPORT",
    "period": "PERIOD REPORT",
    "shift": "SHIFT REPORT",
    "card": "CARD STATEMENT",
    "plate": "PLATE STATEMENT",
    "records": "RECORDS",
    "greys": "GREY RECORDS OUTSTANDING",
    "prices": "PRICE CHANGES AND RECEIPTS",
    "closes": "CLOSED DAYS",
    "stock": "STATION STOCK IN / OUT (TANK RECONCILIATION)",
}

SECTIONS: Final = {
    "product": "By product",
    "nozzle": "By nozzle",
    "dispenser": "By dispenser",
    "employee": "By employee",
    "payment": "By payment mode",
    "mode": "By consumption mode",
    "card_kind": "By card kind",
    "day": "By day",
    "month": "By month",
    "hour": "By hour",
    "adjustments": "Adjustments after the close",
}

WORDS: Final = {
    "station": "Station",
    "period": "Period",
    "from": "From",
    "to": "To",
    "generated": "Generated",
    "total": "TOTAL",
    "closed": "Closed",
    "closed_by": "by",
    "open_day": "Not closed",
    "frozen_ok": "frozen figures verified",
    "frozen_bad": "FROZEN FIGURES DIFFER FROM THE RECORDS",
    "no_rows": "(no records)",
    "none": "none",
    "employee": "emp",
    "adjustment_note": "records of this day received after the close (not in the frozen figures)",
    "units_note": "Volume in 0.01 of the product unit (L, m3, kg); money in fen (0.01 yuan).",
}


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
        """Header with its unit and type, as in CSV and XLSX files: `amount [fen, int]`."""
        return f"{self.header} [{self.unit + ', ' if self.unit else ''}{self.type}]"


FIGURE_COLUMNS: Final = (
    Column("count", "Records", "records", "int"),
    Column("volume", "Volume", "0.01 unit", "int"),
    Column("amount", "Amount", "fen", "int"),
)
SECTION_COLUMNS: Final = (
    Column("section", "Section"),
    Column("key", "Key"),
    Column("label", "Item"),
    Column("unit", "Volume unit"),
    *FIGURE_COLUMNS,
)
RECORD_COLUMNS: Final = (
    Column("id", "Row", "", "int"),
    Column("time", "Time", "station local", "datetime"),
    Column("business_day", "Business day", "", "date"),
    Column("line", "Line"),
    Column("dispenser", "Dispenser", "", "int"),
    Column("nzn", "Nozzle", "", "int"),
    Column("pos_ttc", "POS_TTC", "", "int"),
    Column("kind", "Kind"),
    Column("payment", "Payment"),
    Column("asn", "Card"),
    Column("g_code", "Product code"),
    Column("product", "Product"),
    Column("volume", "Volume", "0.01 unit", "int"),
    Column("price", "Unit price", "fen", "int"),
    Column("amount", "Amount", "fen", "int"),
    Column("balance", "Card balance", "fen", "int"),
    Column("ctc", "Card counter", "", "int"),
    Column("emp", "Employee", "", "int"),
)
GREY_COLUMNS: Final = (
    Column("id", "Row", "", "int"),
    Column("time", "Locked at", "station local", "datetime"),
    Column("line", "Line"),
    Column("dispenser", "Dispenser", "", "int"),
    Column("nzn", "Nozzle", "", "int"),
    Column("asn", "Card"),
    Column("ctc", "Card counter", "", "int"),
    Column("balance", "Card balance", "fen", "int"),
    Column("amount", "Amount owed", "fen", "int"),
    Column("volume", "Volume", "0.01 unit", "int"),
)
PRICE_COLUMNS: Final = (
    Column("version", "Price version", "", "int"),
    Column("effective", "Effective", "station local", "datetime"),
    Column("imported_at", "Imported", "UTC", "datetime"),
    Column("activated_at", "Advertised", "UTC", "datetime"),
    Column("line", "Line"),
    Column("dispenser", "Dispenser", "", "int"),
    Column("received_at", "Receipt", "UTC", "datetime"),
)
CLOSE_COLUMNS: Final = (
    Column("day", "Business day", "", "date"),
    Column("closed_at", "Closed", "UTC", "datetime"),
    Column("closed_by", "Closed by"),
    Column("count", "Records", "records", "int"),
    Column("volume", "Volume", "0.01 unit", "int"),
    Column("amount", "Amount", "fen", "int"),
    Column("adjustments", "Adjustments", "records", "int"),
    Column("archived", "Archived"),
)

STOCK_COLUMNS: Final = (
    Column("tank", "Tank", "", "int"),
    Column("period_start", "From", "UTC", "datetime"),
    Column("period_end", "To", "UTC", "datetime"),
    Column("opening_l", "Opening", "L (15 °C)", "number"),
    Column("deliveries_l", "Stock in", "L (15 °C)", "number"),
    Column("sales_l", "Stock out (sales)", "L (15 °C)", "number"),
    Column("book_closing_l", "Book closing", "L (15 °C)", "number"),
    Column("measured_closing_l", "Measured closing", "L (15 °C)", "number"),
    Column("variance_l", "Variance", "L", "number"),
    Column("variance_pct", "Variance", "%", "number"),
)

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
