"""The `[rules]` table of the station configuration → a validated `RulesSettings`.

Layer: edge (pure core). `edge.config` passes `[rules]` through verbatim (`Config.extra["rules"]`); this
module defines its keys and reports every problem at once with the file and the key
(`station.toml: rules.grey_delay_mode: ...`), raising `edge.config.ConfigError`. Every key is optional;
the defaults are `edge.rules.RulesConfig`'s. Reference: docs/rules.md, "Configuration".

    [rules]
    cylinder_alarm_advance_days = 10        warn this many days before a CNG cylinder inspection is due
    grey_delay_mode = "working_days"        or "hours": how the province-wide grey unlock delay is counted
    grey_delay_working_days = 2
    grey_delay_hours = 48
    lost_card_grace_working_days = 2
    accepted_card_classes = [0, 1, 2, 3, 4] CNG card classes accepted here (default: all)
    accepted_provinces = ["11", "12"]       issuing provinces of user cards accepted (default: all)
    require_cng_profile = false             CNG station: refuse user cards without a CNG profile
    require_plate_match = false
    price_receipt_timeout_s = 900           alarm when a dispenser has not confirmed new prices by then
    card_facts_ttl_s = 600                  how long a card-inserted report (0x31) is kept for its 0x36
    inbox_dir = "inbox"                     spool folder for `station lists|prices import` (beside the DB)
    require_card_report = true              refuse a 0x36 for a card not reported first (CARD_DATA_MISSING)
    withhold_lists = ["bus1/3", "p2p2"]     dispensers (line/POS-P) or whole lines never offered the
                                            blacklists: they must ask 0x36 for every card (docs/rules.md)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from edge.config import Config, ConfigError
from edge.rules import GreyDelayMode, RulesConfig

__all__ = ["DEFAULT_CARD_FACTS_TTL_S", "DEFAULT_RECEIPT_TIMEOUT_S", "RulesSettings", "parse_rules_settings"]

DEFAULT_RECEIPT_TIMEOUT_S: Final = 900.0
DEFAULT_CARD_FACTS_TTL_S: Final = 600.0
DEFAULT_INBOX: Final = "inbox"

_INT_KEYS: Final = (
    "cylinder_alarm_advance_days",
    "grey_delay_hours",
    "grey_delay_working_days",
    "lost_card_grace_working_days",
)
_BOOL_KEYS: Final = ("require_cng_profile", "require_plate_match")
_KEYS: Final = frozenset(
    {
        *_INT_KEYS,
        *_BOOL_KEYS,
        "grey_delay_mode",
        "accepted_card_classes",
        "accepted_provinces",
        "price_receipt_timeout_s",
        "card_facts_ttl_s",
        "inbox_dir",
        "require_card_report",
        "withhold_lists",
    }
)
_MAX_DAYS: Final = 3660


@dataclass(frozen=True, slots=True)
class RulesSettings:
    """Everything `[rules]` sets: the rules' own settings and how the daemon runs them."""

    rules: RulesConfig = field(default_factory=RulesConfig)
    """The settings the pure rules read (`edge.rules.RulesConfig`)."""
    price_receipt_timeout_s: float = DEFAULT_RECEIPT_TIMEOUT_S
    """A dispenser that has not confirmed (T_TYPE 8) the price table in force this long after it took
    effect raises the `price_receipt_missing` alarm."""
    card_facts_ttl_s: float = DEFAULT_CARD_FACTS_TTL_S
    """How long the facts of a card-inserted report (balance, CNG profile) are kept for the 0x36 query
    that follows it."""
    inbox_dir: Path | None = None
    """Spool folder the daemon watches for imports (default `inbox` beside the database)."""
    require_card_report: bool = True
    """A 0x36 for a card its dispenser did not report first (0x31 ST=1, spec B1) is refused as
    `CARD_DATA_MISSING`: without the report the CNG profile, preset and plate are unknown. False decides
    such a card on its number and the lists, and re-checks it when the report comes (an alarm only)."""
    withhold_lists: frozenset[str] = frozenset()
    """Lines (`bus1`) and dispensers (`bus1/3`) whose 0x30 replies announce blacklist versions 0, so they
    never download the blacklists and must ask 0x36 for every user card (dispensers that cannot be
    trusted to ask for cards with a CNG profile, spec B10). `require_cng_profile` withholds them from all.

    `withholds(line, pos_p)` says whether one dispenser is concerned."""

    def withholds(self, line: str, pos_p: int) -> bool:
        """True when the blacklist versions are withheld from this dispenser (see `withhold_lists`)."""
        if self.rules.require_cng_profile:
            return True
        return line in self.withhold_lists or f"{line}/{pos_p}" in self.withhold_lists


def parse_rules_settings(table: Any, source: str = "station.toml", base: Path | None = None) -> RulesSettings:
    """Validate the `[rules]` table (None = absent); raise `ConfigError` listing every problem."""
    if table is None:
        return RulesSettings()
    problems: list[str] = []

    def problem(key: str, what: str) -> None:
        problems.append(f"{source}: rules.{key}: {what}")

    if not isinstance(table, Mapping):
        raise ConfigError([f"{source}: rules: must be a table ([rules])"])
    for key in sorted(set(table) - _KEYS):
        problem(key, "unknown key")
    values: dict[str, Any] = {}
    for key in _INT_KEYS:
        if key in table:
            value = table[key]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_DAYS * 24:
                problem(key, f"must be a whole number 0..{_MAX_DAYS * 24}, got {value!r}")
            else:
                values[key] = value
    for key in _BOOL_KEYS:
        if key in table:
            if not isinstance(table[key], bool):
                problem(key, f"must be true or false, got {table[key]!r}")
            else:
                values[key] = table[key]
    if "grey_delay_mode" in table:
        mode = table["grey_delay_mode"]
        try:
            values["grey_delay_mode"] = GreyDelayMode(mode)
        except ValueError:
            problem(
                "grey_delay_mode", f"must be one of {', '.join(m.value for m in GreyDelayMode)}, got {mode!r}"
            )
    if "accepted_card_classes" in table:
        raw = table["accepted_card_classes"]
        if not isinstance(raw, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in raw
        ):
            problem("accepted_card_classes", f"must be a list of card classes 0..255, got {raw!r}")
        else:
            values["accepted_card_classes"] = frozenset(raw)
    if "accepted_provinces" in table:
        raw = table["accepted_provinces"]
        if not isinstance(raw, list) or not all(
            isinstance(v, str) and len(v) == 2 and v.isdigit() for v in raw
        ):
            problem(
                "accepted_provinces", f'must be a list of 2-digit province codes such as "11", got {raw!r}'
            )
        else:
            values["accepted_provinces"] = frozenset(int(v, 16) for v in raw)
    timeouts: dict[str, float] = {}
    for key, default in (
        ("price_receipt_timeout_s", DEFAULT_RECEIPT_TIMEOUT_S),
        ("card_facts_ttl_s", DEFAULT_CARD_FACTS_TTL_S),
    ):
        value = table.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 7 * 86400:
            problem(key, f"must be a number of seconds 0 < s <= 604800, got {value!r}")
        else:
            timeouts[key] = float(value)
    require_report = True
    if "require_card_report" in table:
        if not isinstance(table["require_card_report"], bool):
            problem("require_card_report", f"must be true or false, got {table['require_card_report']!r}")
        else:
            require_report = table["require_card_report"]
    withheld: frozenset[str] = frozenset()
    if "withhold_lists" in table:
        raw = table["withhold_lists"]
        if not isinstance(raw, list) or not all(isinstance(v, str) and _is_place(v) for v in raw):
            problem("withhold_lists", f'must be a list of line names or "line/POS-P", got {raw!r}')
        else:
            withheld = frozenset(raw)
    inbox: Path | None = None
    if "inbox_dir" in table:
        text = table["inbox_dir"]
        if not isinstance(text, str) or not text:
            problem("inbox_dir", f"must be a folder name, got {text!r}")
        else:
            inbox = Path(text) if Path(text).is_absolute() or base is None else (base / text).resolve()
    if problems:
        raise ConfigError(problems)
    return RulesSettings(
        rules=RulesConfig(**values),
        price_receipt_timeout_s=timeouts.get("price_receipt_timeout_s", DEFAULT_RECEIPT_TIMEOUT_S),
        card_facts_ttl_s=timeouts.get("card_facts_ttl_s", DEFAULT_CARD_FACTS_TTL_S),
        inbox_dir=inbox,
        require_card_report=require_report,
        withhold_lists=withheld,
    )


def _is_place(text: str) -> bool:
    line, sep, pos_p = text.partition("/")
    return bool(line) and (not sep or (pos_p.isdigit() and 0 <= int(pos_p) <= 255))


def rules_settings(config: Config) -> RulesSettings:
    """The `[rules]` settings of a loaded configuration (`ConfigError` when invalid); `withhold_lists`
    must name configured lines and dispensers."""
    settings = parse_rules_settings(config.extra.get("rules"), config.path.name, config.path.parent)
    known = {line.name for line in config.lines} | {
        f"{line.name}/{d.pos_p}" for line in config.lines for d in line.dispensers
    }
    unknown = sorted(settings.withhold_lists - known)
    if unknown:
        raise ConfigError(
            [
                f"{config.path.name}: rules.withhold_lists: {name!r} is not a configured line or dispenser"
                for name in unknown
            ]
        )
    return settings


def inbox_dir(config: Config, settings: RulesSettings | None = None) -> Path:
    """The spool folder of imports: `[rules] inbox_dir`, else `inbox` beside the database."""
    settings = settings if settings is not None else rules_settings(config)
    return settings.inbox_dir or config.storage.database.parent / DEFAULT_INBOX
