"""What codes are called where people read them: record kinds, payment modes, alarm codes.

Layer: protocol (pure). The codes stay on the wire, in the database and in the MQTT contract; these
are the English words for them, marked `N_` so they are in the translation catalogs (`protocol.i18n`),
and translated where they are shown (terminal UI, reports, exports, CLI).
"""

from __future__ import annotations

from typing import Final

from protocol.i18n import N_, Translator

__all__ = [
    "ALARM_TEXT",
    "EMP_NONE",
    "KIND_NAMES",
    "KIND_WORDS",
    "PAYMENT_MODES",
    "PAYMENT_WORDS",
    "WARNING_TEXT",
    "centi",
    "kind_name",
    "kind_words",
    "payment_mode",
    "payment_words",
]

EMP_NONE: Final = 255
"""EMP of a record or a nozzle when nobody is on duty."""

KIND_NAMES: Final = {
    0: "sale",
    1: "grey",
    2: "wrong_card",
    3: "grey_unlock",
    4: "supplementary",
    5: "on_duty",
    6: "off_duty",
    7: "cash",
    8: "price_receipt",
    9: "card_error",
}
"""T_TYPE b3..b0 → kind name (`protocol.record.TxKind` by name): the one spelling of the control API, the
MQTT contract, the reports and the exports."""

PAYMENT_MODES: Final = {0: "cash", 1: "ticket", 2: "credit", 3: "bank_card"}
"""Record UNIT b7-4 → payment mode name; every other value is `other`."""


def centi(value: int) -> str:
    """0.01 units (money in fen, volume in 0.01 L, prices) as a decimal: 12345 → '123.45', -5 → '-0.05'."""
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole}.{cents:02d}"


def kind_name(t_type: int) -> str:
    """The kind of a record by name (`sale`, `grey`, `on_duty` …); the number as text when unnamed."""
    low = t_type & 0x0F
    return KIND_NAMES.get(low, str(low))


def payment_mode(unit: int) -> str:
    """How a sale was paid, from the record's UNIT (b7-4)."""
    return PAYMENT_MODES.get((unit >> 4) & 0x0F, "other")


KIND_WORDS: Final = {
    "sale": N_("sale"),
    "grey": N_("grey"),
    "wrong_card": N_("wrong card"),
    "grey_unlock": N_("grey unlock"),
    "supplementary": N_("supplementary"),
    "on_duty": N_("on duty"),
    "off_duty": N_("off duty"),
    "cash": N_("cash"),
    "price_receipt": N_("price receipt"),
    "card_error": N_("card error"),
}
"""Record kind name (`KIND_NAMES`) → words."""

PAYMENT_WORDS: Final = {
    "cash": N_("cash"),
    "ticket": N_("ticket"),
    "credit": N_("credit"),
    "bank_card": N_("bank card"),
    "other": N_("other"),
    "grey_unpaid": N_("grey unpaid"),
}
"""Payment mode name → words."""

ALARM_TEXT: Final = {
    "line_unavailable": N_("The dispenser line cannot be opened."),
    "dispenser_offline": N_("A dispenser does not answer."),
    "dispenser_error": N_("A dispenser reports an error."),
    "journal_failed": N_("Records cannot be stored: call the station manager."),
    "record_conflict": N_("Two different records with the same number: call the station manager."),
    "pos_ttc_jump": N_("Record numbers jumped: records may be missing."),
    "decisions_not_stored": N_("Card decisions cannot be stored."),
    "card_recheck_refused": N_("A card was refused when it was checked again at the nozzle."),
    "price_receipt_missing": N_("A dispenser has not confirmed the new prices."),
    "outbox_depth": N_("Many records wait to be sent to the centre."),
    "outbox_age": N_("Records have waited too long to be sent to the centre."),
    "publish_refused": N_("The centre refuses the records sent."),
    "offline": N_("The centre has been unreachable for too long."),
    "lists_held_while_withheld": N_(
        "A dispenser still holds blacklists it must not have: clear its lists before it sells to card holders."
    ),
    "tank_high_high": N_("Tank nearly full: overfill danger. Stop the delivery."),
    "tank_high": N_("Tank level high."),
    "tank_low": N_("Tank level low."),
    "tank_low_low": N_("Tank level very low: order a delivery now."),
    "tank_high_water": N_("Water in the tank."),
    "tank_probe_error": N_("The tank probe reports an error."),
    "tank_probe_offline": N_("The tank probe does not answer."),
    "tank_bad_reading": N_("The tank probe sent an impossible reading: check the probe."),
    "tank_jump": N_("The tank level jumped: check the probe."),
    "tank_sudden_loss": N_("The tank lost product while nothing was sold: check for a leak."),
    "tank_variance": N_("Tank stock and sales do not agree: possible leak or meter fault. Call the manager."),
    "tank_console_leak": N_("The tank console reports a leak."),
    "tank_console_high_water": N_("The tank console reports water in the tank."),
    "tank_console_overfill": N_("The tank console reports an overfill. Stop the delivery."),
    "tank_console_low_product": N_("The tank console reports low product."),
    "tank_console_sudden_loss": N_("The tank console reports a sudden loss: check for a leak."),
    "tank_console_high_product": N_("The tank console reports high product."),
    "unknown_cylinder": N_("A cylinder that is not in the registry was scanned."),
    "overfill": N_("A cylinder was over-filled: correct it before it is handed out."),
    "scale_fault": N_("A filling scale failed during a fill: re-weigh the cylinder."),
    "bad_import": N_("A cylinder file was refused: nothing was imported."),
    "scale_offline": N_("A filling scale does not answer: check its cable and power."),
    "record_damaged": N_("A stored record changed on disk: it is being recovered; call the station manager."),
    "database_damaged": N_("The station database is damaged: call the engineer."),
    "clock_step": N_("The clock jumped: shifts and price changes wait until the time is confirmed."),
}
"""What each alarm code means for the attendant (the stored message is the engineer's detail)."""


WARNING_TEXT: Final = {
    "cylinder_due": N_("Cylinder inspection of vehicle {plate} is due on {due}. Remind the driver."),
    "lost_card_pending": N_(
        "Card was reported lost; it stops working on {due}. Check that the customer is the holder."
    ),
    "check_plate": N_("Card is only for vehicle {plate}. Check the plate."),
    "grey_debit_first": N_("Card was left locked by an unfinished sale: {amount} is taken first."),
}
"""Warnings on an allowed card (`edge.rules.WarningKind`), with the facts they name as placeholders."""


def kind_words(kind: str, tr: Translator) -> str:
    words = KIND_WORDS.get(kind)
    return tr(words) if words else kind.replace("_", " ")


def payment_words(mode: str, tr: Translator) -> str:
    words = PAYMENT_WORDS.get(mode)
    return tr(words) if words else mode.replace("_", " ")
