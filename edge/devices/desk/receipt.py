"""Printable text receipts of desk operations, in the operator's language (pure).

Layer: edge (pure). 40 columns (a receipt printer's width; Chinese characters count two), one fact a
line, money as `¥123.45`. The words are catalog texts (`protocol/locale`), filled after translation.

    ========================================
    STATION DEMO-0001            DESK RECEIPT
    Top-up                          confirmed
    Card        10000101100000000051
    Amount                          ¥500.00
    Payment                            cash
    Balance before                  ¥100.00
    Balance after                   ¥600.00
    Operator                            ann
    Time                   2026-01-14 10:00
    Ref                   3f2a9c0d41e8…
    ========================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from protocol.i18n import N_, Translator, cells, ljust, translator
from storage.desk import OperationRow

__all__ = ["OP_WORDS", "STATE_WORDS", "money", "operation_json", "receipt_text"]

WIDTH = 40

OP_WORDS: Mapping[str, str] = {
    "read": N_("Card read"),
    "pin": N_("PIN"),
    "topup": N_("Top-up"),
    "unlock": N_("Grey unlock"),
    "register": N_("Customer registered"),
    "issue": N_("Card issued"),
    "replace": N_("Card replaced"),
    "lost": N_("Card reported lost"),
    "cancel": N_("Card cancelled"),
    "reinstate": N_("Card reinstated"),
    "cylinder": N_("Cylinder date changed"),
    "clear": N_("Credit card cleared"),
}
STATE_WORDS: Mapping[str, str] = {
    "intent": N_("pending"),
    "written": N_("pending"),
    "confirmed": N_("confirmed"),
    "refused": N_("refused"),
    "unresolved": N_("UNRESOLVED"),
    "done": N_("done"),
}


def money(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100}.{fen % 100:02d}"


def _line(left: str, right: str) -> str:
    gap = WIDTH - cells(left) - cells(right)
    return left + " " * max(gap, 1) + right


def _local(at: dt.datetime | None) -> str:
    when = at or dt.datetime.now(dt.UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def receipt_text(op: OperationRow, station: str, language: str = "zh_CN", card: Any = None) -> str:
    """The receipt of one operation (the card view, when given, adds the holder and the plate)."""
    tr: Translator = translator(language)
    lines = ["=" * WIDTH, _line(tr("STATION {id}").format(id=station), tr("DESK RECEIPT"))]
    lines.append(
        _line(tr(OP_WORDS.get(op.kind, op.kind)), tr(STATE_WORDS.get(op.state.value, op.state.value)))
    )
    if op.asn:
        lines.append(_line(tr("Card"), op.asn))
    if op.other_asn:
        label = tr("New card") if op.kind == "replace" else tr("Other card")
        lines.append(_line(label, op.other_asn))
    if isinstance(card, Mapping):
        if card.get("holder"):
            lines.append(_line(tr("Holder"), str(card["holder"])))
        if card.get("plate"):
            lines.append(_line(tr("Plate"), str(card["plate"])))
    if op.amount is not None:
        lines.append(_line(tr("Amount"), money(op.amount)))
    if op.payment:
        lines.append(_line(tr("Payment"), op.payment))
    if op.balance_before is not None:
        lines.append(_line(tr("Balance before"), money(op.balance_before)))
    if op.balance_after is not None and op.state.value in ("confirmed", "done"):
        lines.append(_line(tr("Balance after"), money(op.balance_after)))
    status = op.details.get("status")
    if isinstance(status, str):
        lines.append(_line(tr("Status"), status))
    if op.state.value == "refused" and op.amount:
        lines.append(ljust(tr("Nothing was loaded: the payment is owed to the customer."), WIDTH))
    if op.state.value == "unresolved":
        lines.append(ljust(tr("The card must be replaced: keep this receipt."), WIDTH))
    lines.append(_line(tr("Operator"), op.operator))
    lines.append(_line(tr("Time"), _local(op.updated_at or op.created_at)))
    lines.append(_line(tr("Ref"), op.op_key[:16]))
    lines.append("=" * WIDTH)
    return "\n".join(lines) + "\n"


def operation_json(op: OperationRow) -> dict[str, Any]:
    """An operation as a JSON object (the control API's `desk.operations`, `station desk ... --json`)."""
    return {
        "op_key": op.op_key,
        "op": op.kind,
        "asn": op.asn,
        "state": op.state.value,
        "operator": op.operator,
        "role": op.role,
        "amount": op.amount,
        "payment": op.payment,
        "balance_before": op.balance_before,
        "balance_after": op.balance_after,
        "counter_before": op.counter_before,
        "other_asn": op.other_asn,
        "resolution": op.resolution,
        "details": dict(op.details),
        "created_at": op.created_at.isoformat() if op.created_at else None,
        "updated_at": op.updated_at.isoformat() if op.updated_at else None,
    }
