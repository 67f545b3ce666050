"""`station-card`: serve virtual fuel cards to pcscd through vpcd, and move them from the command line.

Layer: firmware-sim (CLI shell). Two subcommands:

    station-card serve --deck deck.toml --state-dir cards/ [--port 35963] [--slots 2]
                       [--insert taxi] [--control /tmp/cards.sock] [--scenario steps.toml]
    station-card ctl --control /tmp/cards.sock insert taxi [--slot 0]
                                               remove | swap NAME | tear N after|before | status

`serve` keeps every card's state in `<state-dir>/<name>.json` (loaded from there when present, so a
card keeps its balance across runs; from the deck otherwise) and saves it after every change.
The control socket takes one command per line and answers one JSON line ({"ok": true, ...}).
A scenario is a list of steps run in order, each after its `wait_s`::

    [[step]]
    wait_s = 0.5
    action = "insert"        # insert | remove | swap | tear
    card = "taxi"            # insert, swap
    slot = 0                 # default 0
    at = 3                   # tear: the n-th APDU from now
    mode = "after"           # tear: after (response lost) | before (power off before applying)

Exit codes: 0 stopped by SIGTERM / SIGINT (or `ctl` done); 1 runtime failure (vpcd unreachable, control
command refused); 2 invalid command line, deck or scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station_sim.card.core import VirtualCard
from station_sim.card.deck import DeckError, load_deck
from station_sim.card.slot import CardSlot, TearMode, TearPlan
from station_sim.card.state import load_state, save_state
from station_sim.card.vpcd import VPCD_PORT, VpcdCard, VpcdError
from station_sim.errors import SimError, StateError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
ACTIONS = ("insert", "remove", "swap", "tear")


class CommandError(SimError):
    """A control command or scenario step that cannot be done."""


@dataclass(frozen=True, slots=True)
class Step:
    wait_s: float
    action: str
    card: str = ""
    slot: int = 0
    at: int = 1
    mode: TearMode = TearMode.AFTER


def parse_scenario(path: Path) -> list[Step]:
    """Scenario steps; `DeckError` listing every problem (file: step[i].key: what)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DeckError([f"{path}: {exc}"]) from exc
    problems: list[str] = []
    steps: list[Step] = []
    for i, raw in enumerate(data.get("step", [])):
        where = f"{path}: step[{i}]"
        action = raw.get("action")
        if action not in ACTIONS:
            problems.append(f"{where}.action: {action!r} is not one of {', '.join(ACTIONS)}")
            continue
        if action in ("insert", "swap") and not isinstance(raw.get("card"), str):
            problems.append(f"{where}.card: a card name is needed to {action}")
            continue
        try:
            steps.append(
                Step(
                    wait_s=float(raw.get("wait_s", 0.0)),
                    action=action,
                    card=str(raw.get("card", "")),
                    slot=int(raw.get("slot", 0)),
                    at=int(raw.get("at", 1)),
                    mode=TearMode(raw.get("mode", "after")),
                )
            )
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise DeckError(problems)
    return steps


class CardService:
    """The cards of a deck, the vpcd slots, and the commands that move cards between them."""

    def __init__(
        self, cards: dict[str, VirtualCard], state_dir: Path, host: str, port: int, slots: int
    ) -> None:
        self.cards = cards
        self.state_dir = state_dir
        self._names = {id(card): name for name, card in cards.items()}
        self.vpcd = [VpcdCard(CardSlot(self._save), host, port + i) for i in range(slots)]

    def _save(self, card: VirtualCard) -> None:
        save_state(self.state_dir / f"{self._names[id(card)]}.json", card.state)

    def _slot(self, slot: int) -> VpcdCard:
        if not 0 <= slot < len(self.vpcd):
            raise CommandError(f"slot {slot} does not exist (0..{len(self.vpcd) - 1})")
        return self.vpcd[slot]

    def _card(self, name: str) -> VirtualCard:
        card = self.cards.get(name)
        if card is None:
            raise CommandError(f"no card {name!r} in the deck")
        for other in self.vpcd:
            if other.slot.card is card:
                raise CommandError(f"card {name!r} is already in a reader")
        return card

    def where(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, vpcd in enumerate(self.vpcd):
            card = vpcd.slot.card
            out[str(i)] = None if card is None else self._names[id(card)]
        return out

    async def run(self, step: Step) -> dict[str, Any]:
        vpcd = self._slot(step.slot)
        match step.action:
            case "insert":
                await vpcd.insert(self._card(step.card))
            case "remove":
                await vpcd.remove()
            case "swap":
                await vpcd.swap(self._card(step.card))
            case "tear":
                vpcd.slot.arm(TearPlan(step.at, step.mode))
            case other:
                raise CommandError(f"unknown action {other!r}")
        return {"ok": True, "slots": self.where()}

    async def close(self) -> None:
        for vpcd in self.vpcd:
            await vpcd.close()


def parse_command(line: str) -> Step:
    """`insert NAME [SLOT]`, `remove [SLOT]`, `swap NAME [SLOT]`, `tear N after|before [SLOT]`, `status`."""
    words = line.split()
    if not words:
        raise CommandError("empty command")
    try:
        match words:
            case ["insert" | "swap" as action, name]:
                return Step(0.0, action, card=name)
            case ["insert" | "swap" as action, name, slot]:
                return Step(0.0, action, card=name, slot=int(slot))
            case ["remove"]:
                return Step(0.0, "remove")
            case ["remove", slot]:
                return Step(0.0, "remove", slot=int(slot))
            case ["tear", at, mode]:
                return Step(0.0, "tear", at=int(at), mode=TearMode(mode))
            case ["tear", at, mode, slot]:
                return Step(0.0, "tear", at=int(at), mode=TearMode(mode), slot=int(slot))
            case ["status"]:
                return Step(0.0, "status")
    except ValueError as exc:
        raise CommandError(f"{line!r}: {exc}") from exc
    raise CommandError(f"not a command: {line!r}")


async def _control(service: CardService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            text = line.decode(errors="replace").strip()
            try:
                step = parse_command(text)
                answer = (
                    {"ok": True, "slots": service.where()}
                    if step.action == "status"
                    else await service.run(step)
                )
            except (CommandError, VpcdError, ValueError) as exc:
                log.warning("control: %s", exc)
                answer = {"ok": False, "error": str(exc)}
            writer.write((json.dumps(answer, ensure_ascii=False) + "\n").encode())
            await writer.drain()
    finally:
        writer.close()


def _load_cards(deck: Path, state_dir: Path) -> dict[str, VirtualCard]:
    """The deck's cards, each with its saved state when `state_dir` has one (`StateError` if unreadable)."""
    cards: dict[str, VirtualCard] = {}
    entries = load_deck(deck)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            saved = state_dir / f"{entry.name}.json"
            try:
                state = load_state(saved) if saved.exists() else entry.state
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(str(saved), f"not a card state file: {exc}") from exc
            cards[entry.name] = VirtualCard(state)
            if not saved.exists():
                save_state(saved, state)
    except OSError as exc:
        raise StateError(str(state_dir), exc.strerror or str(exc)) from exc
    return cards


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()


async def _serve(args: argparse.Namespace, cards: dict[str, VirtualCard], steps: list[Step]) -> int:
    service = CardService(cards, Path(args.state_dir), args.host, args.port, args.slots)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server: asyncio.AbstractServer | None = None
    try:
        if args.control:
            _unlink(args.control)
            server = await asyncio.start_unix_server(lambda r, w: _control(service, r, w), path=args.control)
        for name in args.insert or []:
            card, _, slot = name.partition("@")
            await service.run(Step(0.0, "insert", card=card, slot=int(slot or 0)))
        for step in steps:
            if step.wait_s:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(step.wait_s):
                        await stop.wait()
            if stop.is_set():
                break
            log.info("scenario: %s", step)
            await service.run(step)
        await stop.wait()
        return EXIT_OK
    except (CommandError, VpcdError, ValueError) as exc:
        print(f"station-card: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
            _unlink(args.control)
        await service.close()


async def _ctl(args: argparse.Namespace) -> int:
    try:
        reader, writer = await asyncio.open_unix_connection(args.control)
    except OSError as exc:
        print(f"station-card: control socket {args.control}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    writer.write((" ".join(args.words) + "\n").encode())
    await writer.drain()
    line = await reader.readline()
    writer.close()
    print(line.decode().strip())
    try:
        return EXIT_OK if json.loads(line).get("ok") else EXIT_FAILURE
    except json.JSONDecodeError:
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="station-card", description="Virtual fuel cards for pcscd (vpcd).")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve a deck of cards to pcscd through vpcd")
    s.add_argument("--deck", required=True, help="deck TOML ([[card]] tables)")
    s.add_argument("--state-dir", required=True, help="folder of the cards' state files (<name>.json)")
    s.add_argument("--host", default="127.0.0.1", help="where pcscd's vpcd driver listens")
    s.add_argument("--port", type=int, default=VPCD_PORT, help=f"vpcd port of slot 0 (default {VPCD_PORT})")
    s.add_argument("--slots", type=int, default=1, help="vpcd readers to serve (slot i on port + i)")
    s.add_argument("--insert", action="append", help="card to insert at start, NAME or NAME@SLOT")
    s.add_argument("--control", help="unix socket for insert / remove / swap / tear commands")
    s.add_argument("--scenario", help="TOML list of [[step]]s run in order")
    s.add_argument("--log-level", default="INFO")
    c = sub.add_parser("ctl", help="send one command to a running `serve`")
    c.add_argument("--control", required=True)
    c.add_argument(
        "words",
        nargs="+",
        help="insert NAME [SLOT] | remove [SLOT] | swap NAME [SLOT] | tear N after|before [SLOT] | status",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ctl":
        return asyncio.run(_ctl(args))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        steps = parse_scenario(Path(args.scenario)) if args.scenario else []
        cards = _load_cards(Path(args.deck), Path(args.state_dir))
    except (DeckError, StateError) as exc:
        print(f"station-card: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.slots < 1:
        print("station-card: --slots must be 1 or more", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_serve(args, cards, steps))


if __name__ == "__main__":
    sys.exit(main())
