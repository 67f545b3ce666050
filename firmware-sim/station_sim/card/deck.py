"""A deck of virtual cards from TOML.

Layer: firmware-sim (configuration reader). Every problem of a deck is reported at once, each as
`file: card[i].key: what` (a `DeckError`). Example (docs/desk.md has the full table)::

    [[card]]
    name = "taxi"                       # how scenarios and the command refer to the card
    asn = "10000101100000000017"        # 20 digits; default: made from kind, province 11 and the index
    kind = "cng"                        # user | cng | employee | maintenance | verify | foreign
    balance = 50000                     # EP balance, fen (or 0.01 unit for volume modes)
    ed_balance = 0                      # give the card an ED purse too
    pin = "123456"                      # 4..12 digits
    pin_tries = 3                       # 0 = PIN blocked
    issued = true                       # false: a blank card, ready to be issued at the desk
    valid_from = 2024-01-01
    valid_until = 2030-12-31
    holder = { name = "张三", id_number = "110101199001011234", price_level = 1, discount_bp = 0 }
    vehicle = { cylinder_valid_until = 2027-06-30, plate = "京A12345", cylinder_id = "CY-1",
                vehicle_class = 1, consumption_mode = 0 }
    limits = { fills_per_day = 3, max_per_sale = 50000, max_per_day = 100000 }
    credit = { credit_line = 100000 }
    grey = { terminal = "000000000009", serial = 7, locked_at = 2026-12-01T08:00:00 }
    garbage = ["EF16"]                  # files filled with bytes that fit no layout

CNG cards get a vehicle file and a holder file with a price level even when the tables are omitted.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from protocol.card.files import (
    CreditFile,
    HolderFile,
    IssuerFile,
    IssueState,
    LimitsFile,
    VehicleFile,
)
from protocol.card.keys import TEST_MASTER_KEYS, KeySet
from station_sim.card.core import VirtualCard
from station_sim.card.state import FOREIGN_ATR, CardState, Purse
from station_sim.cards import CardKind, make_asn
from station_sim.errors import SimError

KINDS = {"user", "cng", "employee", "maintenance", "verify", "foreign"}
GARBAGE_FILES = {
    "EF15": IssuerFile.SFI,
    "EF16": HolderFile.SFI,
    "EF0D": VehicleFile.SFI,
    "EF1C": LimitsFile.SFI,
}
DEFAULT_VALID_FROM = dt.date(2024, 1, 1)
DEFAULT_VALID_UNTIL = dt.date(2035, 12, 31)
_T = TypeVar("_T")
ISSUER_ID = bytes.fromhex("0000000000004E43")


class DeckError(SimError):
    """A deck file is invalid; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid card deck:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class DeckCard:
    name: str
    state: CardState


def _garbage(sfi: int, size: int) -> bytes:
    """Bytes of the right size that no layout accepts (non-BCD dates, invalid GBK, wrong enums)."""
    return bytes(((sfi * 37 + i * 91) | 0x8A) & 0xFF for i in range(size))


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{self.source}: {where}: {what}")


def _get(table: dict[str, Any], key: str, kind: type[_T], default: _T, where: str, problems: _Problems) -> _T:
    value = table.get(key, default)
    if kind is int and isinstance(value, bool):
        problems.add(f"{where}.{key}", "expected an integer")
        return default
    if not isinstance(value, kind):
        problems.add(f"{where}.{key}", f"expected {kind.__name__}, got {value!r}")
        return default
    return value


def _build(index: int, table: dict[str, Any], problems: _Problems, masters: KeySet) -> DeckCard | None:
    where = f"card[{index}]"
    before = len(problems.items)
    name = _get(table, "name", str, f"card{index + 1}", where, problems)
    kind = _get(table, "kind", str, "user", where, problems)
    if kind not in KINDS:
        problems.add(f"{where}.kind", f"{kind!r} is not one of {', '.join(sorted(KINDS))}")
        kind = "user"
    sim_kind = CardKind.USER if kind == "foreign" else CardKind(kind)
    asn = _get(table, "asn", str, make_asn(sim_kind, "11", index + 1), where, problems)
    if len(asn) != 20 or not asn.isascii() or not asn.isdigit():
        problems.add(f"{where}.asn", f"{asn!r} is not 20 digits")
        asn = make_asn(sim_kind, "11", index + 1)
    balance = _get(table, "balance", int, 0, where, problems)
    ed_balance = table.get("ed_balance")
    pin = _get(table, "pin", str, "123456", where, problems)
    if not (4 <= len(pin) <= 12 and pin.isdigit()):
        problems.add(f"{where}.pin", "a PIN is 4 to 12 digits")
    pin_tries = _get(table, "pin_tries", int, 3, where, problems)
    if not 0 <= pin_tries <= 3:
        problems.add(f"{where}.pin_tries", "0..3")
    issued = _get(table, "issued", bool, True, where, problems)
    valid_from = _get(table, "valid_from", dt.date, DEFAULT_VALID_FROM, where, problems)
    valid_until = _get(table, "valid_until", dt.date, DEFAULT_VALID_UNTIL, where, problems)
    files: dict[int, bytes] = {}
    try:
        files[IssuerFile.SFI] = IssuerFile(
            asn=asn,
            valid_from=valid_from,
            valid_until=valid_until,
            issuer_id=ISSUER_ID,
            issue_state=IssueState.ISSUED if issued else IssueState.BLANK,
        ).encode()
        holder = dict(_get(table, "holder", dict, {}, where, problems))
        if kind == "cng":
            holder.setdefault("price_level", 0)
        files[HolderFile.SFI] = HolderFile(**holder).encode()
        vehicle = table.get("vehicle")
        if vehicle is None and kind == "cng":
            vehicle = {"cylinder_valid_until": dt.date(2030, 12, 31)}
        if vehicle is not None:
            files[VehicleFile.SFI] = VehicleFile(**vehicle).encode()
        if "limits" in table:
            files[LimitsFile.SFI] = LimitsFile(**table["limits"]).encode()
        if "credit" in table:
            files[CreditFile.SFI] = CreditFile(**table["credit"]).encode()
    except (TypeError, ValueError, UnicodeEncodeError, OverflowError) as exc:
        problems.add(where, f"file contents: {exc}")
    for label in _get(table, "garbage", list, [], where, problems):
        sfi = GARBAGE_FILES.get(str(label))
        if sfi is None:
            problems.add(f"{where}.garbage", f"{label!r} is not one of {', '.join(GARBAGE_FILES)}")
        else:
            files[sfi] = _garbage(sfi, len(files.get(sfi, b"")) or 30)
    if len(problems.items) != before:
        return None
    state = CardState(
        asn=asn,
        files=files,
        ep=Purse(balance=balance),
        ed=None if ed_balance is None else Purse(balance=int(ed_balance)),
        pin=pin,
        pin_tries=pin_tries,
        foreign=kind == "foreign",
    )
    if kind == "foreign":
        state.atr = FOREIGN_ATR
    grey = table.get("grey")
    if grey is not None:
        try:
            card = VirtualCard(state, masters)
            card.lock(
                bytes.fromhex(str(grey.get("terminal", "000000000001"))),
                int(grey.get("serial", 1)),
                grey.get("locked_at", dt.datetime(2026, 1, 1, 8, 0, 0)),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            problems.add(f"{where}.grey", str(exc))
            return None
    return DeckCard(name, state)


def parse_deck(text: str, source: str = "<deck>", masters: KeySet = TEST_MASTER_KEYS) -> list[DeckCard]:
    problems = _Problems(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeckError([f"{source}: {exc}"]) from exc
    tables = data.get("card", [])
    if not isinstance(tables, list) or not tables:
        raise DeckError([f"{source}: card: expected one or more [[card]] tables"])
    cards: list[DeckCard] = []
    for index, table in enumerate(tables):
        card = _build(index, table, problems, masters)
        if card is not None:
            cards.append(card)
    names = [c.name for c in cards]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.add("card", f"name {name!r} used twice")
    if problems.items:
        raise DeckError(problems.items)
    return cards


def load_deck(path: Path, masters: KeySet = TEST_MASTER_KEYS) -> list[DeckCard]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeckError([f"{path}: {exc.strerror}"]) from exc
    return parse_deck(text, str(path), masters)
