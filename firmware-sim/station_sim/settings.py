"""The simulator's settings: command line, then the config's `[simulator]` table, then defaults.

Layer: firmware-sim (pure). Every option of `station-sim` (except `--config`) may also be given in the
station TOML's `[simulator]` table under the same name with underscores (`fuel_speed = 1000`,
`exit_when_acked = true`, `mix = "sale=80,cash=20"` or `mix = {sale = 80, cash = 20}`); the command line
wins. Relative paths in the table are relative to the config file's folder. All problems are reported
at once (`SettingsError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station_sim.errors import SettingsError

MIX_KINDS = ("sale", "grey", "cash", "duty", "error")
DEFAULT_MIX: dict[str, float] = {"sale": 80, "grey": 5, "cash": 10, "duty": 4, "error": 1}
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True)
class Settings:
    config: Path
    ledger: Path | None = None
    """JSON-lines ledger file (appended); none = no ledger."""
    state_dir: Path = Path("sim-state")
    """Per-dispenser state files (default: `sim-state` beside the config file)."""
    scenario: Path | None = None
    """Scenario TOML (cards and a timeline of actions)."""
    seed: int | None = None
    """Random seed (none = chosen at start and written to the ledger's `start` event)."""
    rate: float = 0.0
    """Random activities per minute per dispenser (0 = no random traffic)."""
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    """Relative weights of the random activities: sale, grey, cash, duty, error."""
    fuel_speed: int = 50
    """Fuelling speed in 0.01 units per second (50 = 0.5 L/s)."""
    p2p_interval_ms: int = 500
    """Point-to-point: interval between the dispenser's 0x30 polls."""
    max_records: int | None = None
    """Stop producing new activity once this many records were produced."""
    duration: float | None = None
    """Stop producing new activity after this many seconds."""
    exit_when_acked: bool = False
    """Exit 0 once production stopped and every record is acknowledged."""
    wire_time: bool = False
    tanks: bool = True
    """Play the tank consoles of the station's `[tanks]` table (false: real consoles are connected)."""
    """Pace frames at the line's baud rate."""
    scales: bool = True
    """Play the filling scales of the station's `[[lpg.scales]]` (false: real scales are connected)."""
    corrupt_rate: float = 0.0
    drop_rate: float = 0.0
    late_rate: float = 0.0
    late_ms: int = 0
    """Delay of a late answer; 0 = the line's reply timeout + 100 ms."""
    power_cycle_every: float | None = None
    """Power-cycle a random dispenser every this many seconds."""
    power_off_s: float = 5.0
    """How long a power-cycled dispenser stays off."""
    log_level: str = "INFO"
    decides_everything_locally: frozenset[str] = frozenset()
    """Dispensers (`line/POS-P`, or `all`) that ignore spec B10 and decide every card their downloaded
    lists can decide, CNG cards too; on the command line a comma-separated list."""
    card_answer_timeout_s: float = 20.0
    """A card whose 0x36 / 0x35 gets no answer this long is refused by the dispenser
    (`CONTROLLER_UNREACHABLE`): the degraded mode while the controller is down."""

    def decides_locally(self, line: str, pos_p: int) -> bool:
        chosen = self.decides_everything_locally
        return "all" in chosen or f"{line}/{pos_p}" in chosen


_FLOATS_0_1 = ("corrupt_rate", "drop_rate", "late_rate")


def parse_mix(value: object) -> dict[str, float]:
    """`"sale=80,grey=5"` or a mapping → weights; `ValueError` with the problem."""
    if isinstance(value, str):
        items: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            key, sep, text = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r} is not NAME=WEIGHT")
            items[key.strip()] = text.strip()
    elif isinstance(value, Mapping):
        items = dict(value)
    else:
        raise ValueError(f"must be a string or a table, got {type(value).__name__}")
    mix: dict[str, float] = {}
    for name, weight in items.items():
        if name not in MIX_KINDS:
            raise ValueError(f"unknown activity {name!r} (known: {', '.join(MIX_KINDS)})")
        if not isinstance(weight, int | float | str) or isinstance(weight, bool):
            raise ValueError(f"weight of {name} is not a number: {weight!r}")
        try:
            w = float(weight)
        except ValueError:
            raise ValueError(f"weight of {name} is not a number: {weight!r}") from None
        if w < 0:
            raise ValueError(f"weight of {name} is negative")
        mix[name] = w
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("needs at least one positive weight")
    return mix


def resolve(cli: Mapping[str, Any], table: Mapping[str, Any], config: Path) -> Settings:
    """Merge the command line (`None` = not given) over the `[simulator]` table over the defaults."""
    problems: list[str] = []
    names = set(Settings.__dataclass_fields__) - {"config"}
    for key in table:
        if key not in names:
            problems.append(f"{config.name}: simulator.{key}: unknown key")
    base = config.parent
    values: dict[str, Any] = {}

    for name in sorted(names):
        if cli.get(name) is not None:
            raw, where, rel = cli[name], f"--{name.replace('_', '-')}", Path.cwd()
        elif name in table:
            raw, where, rel = table[name], f"{config.name}: simulator.{name}", base
        else:
            continue
        try:
            values[name] = _convert(name, raw, rel)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if "state_dir" not in values:
        values["state_dir"] = base / "sim-state"
    if problems:
        raise SettingsError(problems)
    return Settings(config=config, **values)


def _convert(name: str, raw: Any, rel: Path) -> Any:
    if name in ("ledger", "state_dir", "scenario"):
        if not isinstance(raw, str | Path) or not str(raw):
            raise ValueError("must be a path")
        path = Path(raw)
        return path if path.is_absolute() else rel / path
    if name == "mix":
        return parse_mix(raw)
    if name == "decides_everything_locally":
        return _places(raw)
    if name in ("exit_when_acked", "wire_time", "tanks", "scales"):
        if not isinstance(raw, bool):
            raise ValueError("must be true or false")
        return raw
    if name == "log_level":
        if not isinstance(raw, str) or raw.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return raw.upper()
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"must be a number, got {raw!r}")
    if name in ("seed", "max_records", "p2p_interval_ms", "late_ms", "fuel_speed"):
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be an integer, got {raw!r}") from None
        low = {"seed": 0, "max_records": 0, "p2p_interval_ms": 10, "late_ms": 0, "fuel_speed": 1}[name]
        if value < low:
            raise ValueError(f"must be at least {low}")
        return value
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"must be a number, got {raw!r}") from None
    if name in _FLOATS_0_1 and not 0 <= number <= 1:
        raise ValueError("must be a probability 0..1")
    if number < 0:
        raise ValueError("must not be negative")
    if name in ("power_cycle_every", "duration", "card_answer_timeout_s") and number == 0:
        raise ValueError("must be positive")
    return number


def _places(raw: object) -> frozenset[str]:
    """`"bus1/3,p2p2/5"`, `"all"` or a list of them → the set; `ValueError` with the problem."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f'must be "all" or "line/POS-P" names, got {raw!r}')
    places = frozenset(i.strip() for i in items if i.strip())
    for place in places:
        line, sep, pos_p = place.partition("/")
        if place != "all" and not (line and sep and pos_p.isdigit()):
            raise ValueError(f'{place!r} is not "line/POS-P" (or "all")')
    return places
