"""The desk reader in the daemon: reader and card events, recovery at start-up and on insertion.

Layer: edge (component). Owns the PC/SC reader shell (`edge.devices.desk.reader.DeskReader`, pyscard off
the event loop) for the life of the daemon:

    start      the two-phase operations left open by a crash are settled (`CardOps.startup`: intents
               never sent are refused; writes wait for their card, alarm `desk_pending`)
    card in    the card's open operations are settled from what it shows (re-insertion)
    card out   the slot forgets the card
    reader gone  alarm `desk_reader_gone` (critical); cleared when a reader comes back

Only the configured reader is used (`[desk] reader`, a part of its name; default: any): a second reader
with a foreign card is ignored, and a foreign card in the desk reader is refused by every operation with
`bad_card`. `PcscSlot` gives `CardOps` a fresh PC/SC session on the card in that reader for each
operation (the previous one closed first).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.devices.desk.card import CardAccess, Channel
from edge.devices.desk.cardops import CardOps
from edge.devices.desk.errors import CardError, NoCard
from edge.devices.desk.psam import Psam
from edge.devices.desk.service import DeskError

__all__ = ["DeskComponent", "DeskSettings", "PcscSlot", "desk_settings"]

log = logging.getLogger(__name__)

READER_ALARM = "desk_reader_gone"
SOURCE = "desk"


CARD_READ_LOG = "desk: a card read whole on"
"""The log line of every card the desk read on insertion (what `station bench station` counts)."""


@dataclass(frozen=True, slots=True)
class DeskSettings:
    """`[desk]`: the attendant's desk reader."""

    reader: str = ""
    """A part of the desk reader's PC/SC name (e.g. `"Virtual PCD"`); '' = the first reader with a card."""
    terminal_id: str = ""
    """The desk PSAM's terminal id, 12 hex digits; '' = made from the station's S_ID."""


def desk_settings(table: dict[str, Any] | None, s_id: str) -> DeskSettings | None:
    """`[desk]` read and checked (None when the station has no desk table); `ValueError` naming the key."""
    if table is None:
        return None
    unknown = sorted(set(table) - {"reader", "terminal_id"})
    if unknown:
        raise ValueError(f"[desk] unknown keys: {', '.join(unknown)}")
    reader = table.get("reader", "")
    terminal = table.get("terminal_id", "") or f"{int(s_id) % 10**12:012d}"
    if not isinstance(reader, str):
        raise ValueError("[desk] reader must be text")
    if (
        not isinstance(terminal, str)
        or len(terminal) != 12
        or any(c not in "0123456789abcdefABCDEF" for c in terminal)
    ):
        raise ValueError("[desk] terminal_id must be 12 hex digits")
    return DeskSettings(reader, terminal.upper())


class ReaderChannel(Channel, Protocol):
    async def close(self) -> None: ...


class ReaderPort(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def next_event(self) -> Any:
        """An event with `kind` (reader_added, reader_gone, card_inserted, card_removed), `reader`, `atr`."""
        ...

    async def open(self, reader: str) -> ReaderChannel: ...


class Alarms(Protocol):
    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int: ...

    async def clear(self, source: str, code: str) -> None: ...


class PcscSlot:
    """`CardOps`' card slot over the desk reader: the card in the configured reader."""

    def __init__(self, port: ReaderPort, psam: Psam, reader: str = "") -> None:
        self.port = port
        self.psam = psam
        self.wanted = reader
        self.current: str | None = None
        self.atr = b""
        self._channel: ReaderChannel | None = None

    def accepts(self, reader: str) -> bool:
        return self.wanted in reader

    async def open(self) -> CardAccess:
        await self.close()
        if self.current is None:
            raise NoCard("no card in the desk reader")
        self._channel = await self.port.open(self.current)
        return CardAccess(self._channel, self.psam, self.atr)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            try:
                await channel.close()
            except CardError as exc:
                log.debug("desk reader: closing the card session: %s", exc)


@dataclass(frozen=True, slots=True)
class DeskCardSeen:
    """Bus event: a card put into (with its view as JSON text, or why it cannot be used) or taken out of
    the desk reader; viewers get it as a `device` message of kind `desk` (`edge.devices.desk.kind`)."""

    reader: str
    present: bool
    card: str = ""
    error: str = ""
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class Bus(Protocol):
    def publish(self, event: Any) -> None: ...


class DeskComponent:
    """See the module docstring."""

    def __init__(self, ops: CardOps, slot: PcscSlot, alarms: Alarms, bus: Bus | None = None) -> None:
        self.ops = ops
        self.slot = slot
        self.alarms = alarms
        self.bus = bus
        self.last_view: dict[str, Any] | None = None
        self.inserted = asyncio.Event()

    @property
    def name(self) -> str:
        return "desk"

    async def run(self) -> None:
        await self.ops.startup()
        await self.slot.port.start()
        try:
            while True:
                event = await self.slot.port.next_event()
                await self.handle(event)
        finally:
            await self.slot.close()
            await self.slot.port.stop()

    async def handle(self, event: Any) -> None:
        kind = str(getattr(event.kind, "value", event.kind))
        reader = str(event.reader)
        if reader != "*" and not self.slot.accepts(reader):
            log.info("desk: %s on reader %r ignored (not the desk reader)", kind, reader)
            return
        if kind == "reader_added":
            await self.alarms.clear(SOURCE, READER_ALARM)
        elif kind == "reader_gone":
            if self.slot.current is not None and reader in (self.slot.current, "*"):
                self.slot.current = None
            await self.slot.close()
            await self.alarms.raise_alarm(SOURCE, READER_ALARM, "critical", f"the desk reader {reader} is gone",
                                          {"reader": reader})  # fmt: skip
        elif kind == "card_inserted":
            self.slot.current, self.slot.atr = reader, bytes(getattr(event, "atr", b""))
            try:
                self.last_view = await self.ops.on_inserted()
                log.info("%s %s", CARD_READ_LOG, reader)
                self._publish(DeskCardSeen(reader, True, json.dumps(self.last_view, ensure_ascii=False)))
            except (CardError, DeskError) as exc:
                log.warning("desk: the card inserted in %s cannot be used: %s", reader, exc)
                self.last_view = None
                self._publish(DeskCardSeen(reader, True, error=str(exc)))
            self.inserted.set()
        elif kind == "card_removed" and reader == self.slot.current:
            self.slot.current = None
            self.last_view = None
            await self.slot.close()
            self._publish(DeskCardSeen(reader, False))

    def _publish(self, event: DeskCardSeen) -> None:
        if self.bus is not None:
            self.bus.publish(event)
