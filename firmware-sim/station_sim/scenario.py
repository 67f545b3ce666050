"""Scenario files: cards and a timeline of actions (TOML; reference in `docs/simulator.md`).

Layer: firmware-sim (parsing is pure; `Scenario.run` drives the simulator). Shape::

    [[cards]]                      asn (20 digits), kind user|employee|maintenance|verify|cng,
    asn = "10000100110000000001"   balance (fen), card_st, ctc, emp (employee number),
    kind = "user"                  grey = {amount, at, station, dispenser, nozzle, ctc},
    balance = 100000               cng = {card_class, mode, price_level, cylinder_valid_until,
                                          plate, per_fill_cap, fills_per_day, amount_per_day}
    [[timeline]]
    at_s = 1.5                     seconds from the start
    line = "bus1"                  optional when the station has one line
    dispenser = 1                  POS-P; optional when the line has one dispenser
    nozzle = 1
    action = "insert_card"         insert_card card= [preset_amount= | preset_volume=] [plate=] |
    card = "10000100110000000001"  lift | fuel amount= or volume= | hang_up | pull_card |
                                   on_duty card= | off_duty card= | cash_sale amount= |
                                   error_info text= | power_cycle off_s= | corrupt rate= for_s= |
                                   drop rate= for_s= | wait_lists [for_s=] | resend_altered

Actions run in file order, each at `at_s` or as soon as the previous one finished, whichever is later.
`insert_card`, `on_duty` and `off_duty` finish when the card is decided; `fuel` and `cash_sale` when
the preset is reached; `wait = false` makes them return at once. Every action is logged to the ledger
(`action`, or `action_error` when it does not fit the nozzle's state).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config import Config
from protocol.cng import CngProfile, ConsumptionMode
from protocol.errors import EncodeError
from protocol.sale_request import SaleRequest
from station_sim.cards import (
    DEFAULT_USER_BALANCE_FEN,
    INTERNAL_CODES,
    Card,
    CardKind,
    GreyLock,
    employee_number,
)
from station_sim.device import Decision, DeviceError
from station_sim.errors import ScenarioError
from station_sim.scale_hall import ScaleScript, parse_scale_section
from station_sim.tank_scenario import TankEvent, parse_tank_section
from station_sim.tank_scenario import play as play_tank_events
from station_sim.tanks import TankStart, tank_numbers
from station_sim.traffic import DECISION_TIMEOUT_S, Interrupted, await_decision, await_fuelled, wait_until

if TYPE_CHECKING:
    from station_sim.sim import Simulator

log = logging.getLogger(__name__)

ACTIONS: dict[str, frozenset[str]] = {
    "insert_card": frozenset({"card"}),
    "lift": frozenset(),
    "fuel": frozenset(),
    "hang_up": frozenset(),
    "pull_card": frozenset(),
    "on_duty": frozenset({"card"}),
    "off_duty": frozenset({"card"}),
    "cash_sale": frozenset({"amount"}),
    "error_info": frozenset({"text"}),
    "power_cycle": frozenset(),
    "corrupt": frozenset({"rate", "for_s"}),
    "drop": frozenset({"rate", "for_s"}),
    "wait_lists": frozenset(),
    "resend_altered": frozenset(),
}
DEFAULT_WAIT_LISTS_S = 60.0
NOZZLE_ACTIONS = frozenset(
    {"insert_card", "lift", "fuel", "hang_up", "pull_card", "on_duty", "off_duty", "cash_sale"}
)
STEP_KEYS = frozenset(
    {
        "at_s",
        "line",
        "dispenser",
        "nozzle",
        "action",
        "card",
        "amount",
        "volume",
        "text",
        "off_s",
        "rate",
        "for_s",
        "wait",
        "preset_amount",
        "preset_volume",
        "plate",
    }
)
CARD_KEYS = frozenset({"asn", "kind", "balance", "card_st", "ctc", "emp", "grey", "cng"})
GREY_KEYS = frozenset({"amount", "at", "station", "dispenser", "nozzle", "ctc"})
CNG_KEYS = frozenset(
    {
        "card_class",
        "mode",
        "price_level",
        "cylinder_valid_until",
        "plate",
        "per_fill_cap",
        "fills_per_day",
        "amount_per_day",
    }
)
MODES = {m.name.lower(): m for m in ConsumptionMode}
DEFAULT_POWER_OFF_S = 5.0


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    at_s: float
    action: str
    line: str | None = None
    dispenser: int | None = None
    nozzle: int | None = None
    card: str | None = None
    amount: int | None = None
    volume: int | None = None
    text: str = ""
    off_s: float = DEFAULT_POWER_OFF_S
    rate: float = 0.0
    for_s: float = 0.0
    wait: bool = True
    preset_amount: int | None = None
    preset_volume: int | None = None
    plate: str | None = None

    @property
    def request(self) -> SaleRequest | None:
        """The preset and vehicle plate taken with the card (insert_card), if any."""
        if self.preset_amount is None and self.preset_volume is None and self.plate is None:
            return None
        return SaleRequest(self.preset_amount, self.preset_volume, self.plate or "")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "action": self.action, "at_s": self.at_s}
        for name in (
            "line", "dispenser", "nozzle", "card", "amount", "volume", "preset_amount", "preset_volume", "plate",
        ):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(slots=True)
class Scenario:
    path: Path
    cards: list[Card] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    tank_starts: list[TankStart] = field(default_factory=list)
    tank_events: list[TankEvent] = field(default_factory=list)
    scales: list[ScaleScript] = field(default_factory=list)
    """Scripts of the station's filling scales (`[[scales]]`, station_sim.scale_hall)."""

    async def run(self, sim: Simulator) -> None:
        """Add the cards to the pool and play the timeline."""
        for card in self.cards:
            sim.pool.add(card)
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.TaskGroup() as tg:
            if self.tank_events and sim.tanks is not None:
                tg.create_task(play_tank_events(sim.tanks, self.tank_events, sim.ledger.event))
            for step in self.steps:
                delay = start + step.at_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    result = await self._perform(sim, step, tg)
                except (DeviceError, KeyError, Interrupted) as exc:
                    sim.ledger.event("action_error", **step.describe(), error=str(exc))
                    log.warning("scenario step %d (%s): %s", step.index, step.action, exc)
                    continue
                sim.ledger.event("action", **step.describe(), **result)
        log.info("scenario %s finished", self.path.name)

    async def _perform(self, sim: Simulator, step: Step, tg: asyncio.TaskGroup) -> dict[str, Any]:
        if step.action in ("corrupt", "drop"):
            names = [step.line] if step.line else [r.config.name for r in sim.lines]
            for name in names:
                faults = sim.faults_of(name)
                if faults is None:
                    raise KeyError(f"no line {name!r}")
                faults.override(step.action, step.rate, step.for_s)
            return {}
        slot = sim.find_slot(step.line, step.dispenser)
        dev = slot.dev
        gen = slot.generation
        if step.action == "power_cycle":
            tg.create_task(sim.power_cycle(slot, step.off_s, f"scenario step {step.index}"))
            return {"off_s": step.off_s}
        if step.action == "error_info":
            dev.error_info(step.text)
            return {}
        if step.action == "resend_altered":
            return {"pos_ttc": dev.resend_altered().pos_ttc}
        if step.action == "wait_lists":
            timeout = step.for_s or DEFAULT_WAIT_LISTS_S
            if not await wait_until(slot, gen, lambda: slot.dev.files.holds_all_lists(), timeout):
                raise DeviceError(f"{dev.line}/{dev.pos_p}: lists not downloaded within {timeout:g} s")
            return {"versions": slot.dev.files.list_versions()}
        nzn = step.nozzle if step.nozzle is not None else min(dev.nozzles)
        if step.action in ("insert_card", "on_duty", "off_duty"):
            card = sim.pool.get(step.card or "")
            if card is None:
                raise KeyError(f"card {step.card} is not in [[cards]]")
            if step.action == "insert_card":
                dev.insert_card(nzn, card, request=step.request)
            elif step.action == "on_duty":
                dev.on_duty(nzn, card)
            else:
                dev.off_duty(nzn, card)
            if not step.wait:
                return {}
            if step.action == "insert_card":
                allowed = await await_decision(slot, nzn, gen)
                return {"decision": "allowed" if allowed else "refused"}

            def settled() -> bool:
                session = slot.dev.nozzles[nzn].session
                return session is None or session.decision is not Decision.CHECKING

            await wait_until(slot, gen, settled, DECISION_TIMEOUT_S)
            return {}
        if step.action == "lift":
            dev.lift(nzn)
        elif step.action == "fuel":
            dev.fuel(nzn, amount=step.amount, volume=step.volume)
            if step.wait:
                await await_fuelled(slot, nzn, gen)
        elif step.action == "hang_up":
            rec = dev.hang_up(nzn)
            return {"pos_ttc": rec.pos_ttc} if rec is not None else {}
        elif step.action == "pull_card":
            rec = dev.pull_card(nzn)
            return {"pos_ttc": rec.pos_ttc, "grey": True} if rec is not None else {}
        elif step.action == "cash_sale":
            dev.lift(nzn)
            dev.fuel(nzn, amount=step.amount)
            if not step.wait:
                return {}
            await await_fuelled(slot, nzn, gen)
            rec = slot.dev.hang_up(nzn)
            return {"pos_ttc": rec.pos_ttc} if rec is not None else {}
        return {}


# --- parsing ---------------------------------------------------------------------------------------


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, what: str) -> None:
        self.items.append(f"{self.source}: {key}: {what}")


def _int(p: _Problems, doc: dict[str, Any], key: str, path: str, default: int | None = None) -> int | None:
    value = doc.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        p.add(f"{path}.{key}", f"must be a non-negative integer, got {value!r}")
        return default
    return value


def _num(p: _Problems, doc: dict[str, Any], key: str, path: str, default: float) -> float:
    value = doc.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        p.add(f"{path}.{key}", f"must be a non-negative number, got {value!r}")
        return default
    return float(value)


def _date(p: _Problems, value: Any, path: str) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    p.add(path, f"must be a date YYYY-MM-DD, got {value!r}")
    return None


def _parse_card(p: _Problems, doc: Any, path: str) -> Card | None:
    if not isinstance(doc, dict):
        p.add(path, "must be a table")
        return None
    for key in doc:
        if key not in CARD_KEYS:
            p.add(f"{path}.{key}", "unknown key")
    asn = doc.get("asn")
    if not isinstance(asn, str) or len(asn) != 20 or not asn.isdigit():
        p.add(f"{path}.asn", f"must be 20 digits, got {asn!r}")
        return None
    kind_text = doc.get("kind", "user")
    try:
        kind = CardKind(kind_text)
    except ValueError:
        p.add(f"{path}.kind", f"must be one of {', '.join(k.value for k in CardKind)}, got {kind_text!r}")
        return None
    if asn[4:6] != kind.code:
        p.add(f"{path}.asn", f"byte 2 is {asn[4:6]}, but kind {kind.value} cards have {kind.code}")
    card = Card(
        asn=asn,
        kind=kind,
        balance=_int(p, doc, "balance", path, 0 if asn[4:6] in INTERNAL_CODES else DEFAULT_USER_BALANCE_FEN)
        or 0,
        ctc=_int(p, doc, "ctc", path, 0) or 0,
        card_st=_int(p, doc, "card_st", path, 0) or 0,
        emp=_int(p, doc, "emp", path, employee_number(asn)) or employee_number(asn),
    )
    if "grey" in doc:
        g = doc["grey"]
        gp = f"{path}.grey"
        if not isinstance(g, dict):
            p.add(gp, "must be a table")
        else:
            for key in g:
                if key not in GREY_KEYS:
                    p.add(f"{gp}.{key}", "unknown key")
            at = g.get("at")
            if isinstance(at, str):
                try:
                    at = dt.datetime.fromisoformat(at)
                except ValueError:
                    at = None
            if isinstance(at, dt.datetime):
                at = at.replace(tzinfo=None, microsecond=0)
            else:
                p.add(f"{gp}.at", "must be a date-time (2024-05-01T10:00:00)")
                at = dt.datetime(2000, 1, 1)
            amount = _int(p, g, "amount", gp, 0) or 0
            card.grey = GreyLock(
                bal=card.balance,
                amn=amount,
                ctc=_int(p, g, "ctc", gp, card.ctc) or 0,
                ds=0,
                time=at,
                station=str(g.get("station", "")),
                dispenser=_int(p, g, "dispenser", gp, 0) or 0,
                nozzle=_int(p, g, "nozzle", gp, 0) or 0,
            )
    if "cng" in doc:
        card.cng = _parse_cng(p, doc["cng"], f"{path}.cng")
    return card


def _parse_cng(p: _Problems, c: Any, path: str) -> CngProfile | None:
    if not isinstance(c, dict):
        p.add(path, "must be a table")
        return None
    for key in c:
        if key not in CNG_KEYS:
            p.add(f"{path}.{key}", "unknown key")
    mode_raw = c.get("mode", "prepaid_amount")
    mode: ConsumptionMode | None
    if isinstance(mode_raw, int) and not isinstance(mode_raw, bool) and 0 <= mode_raw <= 3:
        mode = ConsumptionMode(mode_raw)
    else:
        mode = MODES.get(str(mode_raw))
    if mode is None:
        p.add(f"{path}.mode", f"must be one of {', '.join(MODES)} (or 0..3), got {mode_raw!r}")
        mode = ConsumptionMode.PREPAID_AMOUNT
    valid = None
    if "cylinder_valid_until" in c:
        valid = _date(p, c["cylinder_valid_until"], f"{path}.cylinder_valid_until")
    profile = CngProfile(
        card_class=_int(p, c, "card_class", path, 0) or 0,
        mode=mode,
        price_level=_int(p, c, "price_level", path, 0) or 0,
        cylinder_valid_until=valid,
        plate=str(c.get("plate", "")),
        per_fill_cap=_int(p, c, "per_fill_cap", path, 0) or 0,
        fills_per_day=_int(p, c, "fills_per_day", path, 0) or 0,
        amount_per_day=_int(p, c, "amount_per_day", path, 0) or 0,
    )
    try:
        profile.build()
    except (EncodeError, UnicodeError) as exc:
        p.add(path, f"cannot be encoded: {exc}")
        return None
    return profile


def _parse_step(p: _Problems, doc: Any, index: int, config: Config, cards: set[str]) -> Step | None:
    path = f"timeline[{index}]"
    if not isinstance(doc, dict):
        p.add(path, "must be a table")
        return None
    for key in doc:
        if key not in STEP_KEYS:
            p.add(f"{path}.{key}", "unknown key")
    action = doc.get("action")
    if action not in ACTIONS:
        p.add(f"{path}.action", f"must be one of {', '.join(ACTIONS)}, got {action!r}")
        return None
    for key in sorted(ACTIONS[action] - set(doc)):
        p.add(f"{path}.{key}", f"missing (needed by {action})")
    if action == "fuel" and ("amount" in doc) == ("volume" in doc):
        p.add(path, "fuel needs exactly one of amount or volume")
    line = doc.get("line")
    if line is not None and not any(ln.name == line for ln in config.lines):
        p.add(f"{path}.line", f"no line {line!r} in the config")
    dispenser = _int(p, doc, "dispenser", path)
    if action in NOZZLE_ACTIONS | {"power_cycle", "error_info", "wait_lists", "resend_altered"}:
        candidates = [
            d
            for ln in config.lines
            if line is None or ln.name == line
            for d in ln.dispensers
            if dispenser is None or d.pos_p == dispenser
        ]
        if len(candidates) != 1:
            p.add(path, f"line/dispenser name {len(candidates)} dispensers: give line and dispenser")
        elif action in NOZZLE_ACTIONS and "nozzle" in doc:
            nzn = doc["nozzle"]
            if not any(n.nzn == nzn for n in candidates[0].nozzles):
                p.add(f"{path}.nozzle", f"dispenser {candidates[0].pos_p} has no nozzle {nzn!r}")
    card = doc.get("card")
    if card is not None and card not in cards:
        p.add(f"{path}.card", f"card {card!r} is not in [[cards]]")
    wait = doc.get("wait", True)
    if not isinstance(wait, bool):
        p.add(f"{path}.wait", "must be true or false")
        wait = True
    rate = _num(p, doc, "rate", path, 0.0)
    if rate > 1:
        p.add(f"{path}.rate", "must be a probability 0..1")
    text = doc.get("text", "")
    plate = doc.get("plate")
    if plate is not None and not isinstance(plate, str):
        p.add(f"{path}.plate", "must be a string")
        plate = None
    for key in ("preset_amount", "preset_volume", "plate"):
        if key in doc and action != "insert_card":
            p.add(f"{path}.{key}", "only insert_card takes it")
    if "preset_amount" in doc and "preset_volume" in doc:
        p.add(path, "one preset: preset_amount or preset_volume")
    return Step(
        index=index,
        at_s=_num(p, doc, "at_s", path, 0.0),
        action=action,
        line=line,
        dispenser=dispenser,
        nozzle=_int(p, doc, "nozzle", path),
        card=card,
        amount=_int(p, doc, "amount", path),
        volume=_int(p, doc, "volume", path),
        text=text if isinstance(text, str) else str(text),
        off_s=_num(p, doc, "off_s", path, DEFAULT_POWER_OFF_S),
        rate=rate,
        for_s=_num(p, doc, "for_s", path, 0.0),
        wait=wait,
        preset_amount=_int(p, doc, "preset_amount", path),
        preset_volume=_int(p, doc, "preset_volume", path),
        plate=plate,
    )


def parse_scenario(doc: dict[str, Any], path: Path, config: Config) -> Scenario:
    """Validate a parsed scenario document; `ScenarioError` lists every problem."""
    p = _Problems(path.name)
    for key in doc:
        if key not in ("cards", "timeline", "tanks", "tank_events", "scales"):
            p.add(key, "unknown key (expected [[cards]], [[timeline]], [[tanks]], [[tank_events]] and [[scales]])")
    cards: list[Card] = []
    raw_cards = doc.get("cards", [])
    if not isinstance(raw_cards, list):
        p.add("cards", "must be an array of tables ([[cards]])")
        raw_cards = []
    for i, cd in enumerate(raw_cards):
        card = _parse_card(p, cd, f"cards[{i}]")
        if card is not None:
            if any(c.asn == card.asn for c in cards):
                p.add(f"cards[{i}].asn", f"card {card.asn} is listed twice")
            cards.append(card)
    known = {c.asn for c in cards}
    steps: list[Step] = []
    raw_steps = doc.get("timeline", [])
    if not isinstance(raw_steps, list):
        p.add("timeline", "must be an array of tables ([[timeline]])")
        raw_steps = []
    for i, sd in enumerate(raw_steps):
        step = _parse_step(p, sd, i, config, known)
        if step is not None:
            steps.append(step)
    tank_starts, tank_events, tank_problems = parse_tank_section(
        path.name, doc.get("tanks", []), doc.get("tank_events", []), tank_numbers(config)
    )
    p.items.extend(tank_problems)
    scales: list[ScaleScript] = []
    if "scales" in doc:
        scales, problems = parse_scale_section(path.name, doc["scales"], _scale_names(config))
        p.items.extend(problems)
    if p.items:
        raise ScenarioError(p.items)
    return Scenario(path, cards, steps, tank_starts, tank_events, scales)


def _scale_names(config: Config) -> list[str]:
    table = config.extra.get("lpg")
    raw = table.get("scales", []) if isinstance(table, dict) else []
    return [str(s.get("name")) for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []


def load_scenario(path: Path, config: Config) -> Scenario:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{path.name}: not a text file (byte {exc.start} is not UTF-8)"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path.name}: not valid TOML: {exc}"]) from exc
    except RecursionError as exc:
        raise ScenarioError([f"{path.name}: nested too deeply"]) from exc
    return parse_scenario(doc, path, config)
