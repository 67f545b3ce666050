"""The desk's PC/SC reader shell: readers and cards as events, and a `Channel` to the card in a reader.

Layer: edge (I/O shell over pyscard's `smartcard.scard`; every blocking PC/SC call runs in a worker
thread, never on the event loop). One watcher thread blocks in `SCardGetStatusChange` on every reader
plus the PnP notification pseudo-reader (reader hot-plug) with a bounded timeout; `stop()` wakes it with
`SCardCancel`. What it sees becomes `ReaderEvent`s on an asyncio queue:

    READER_ADDED    a reader appeared (at start, or plugged in, or pcscd came back)
    READER_GONE     a reader vanished (unplugged, or pcscd stopped: all readers at once)
    CARD_INSERTED   a card is present (with its ATR)
    CARD_REMOVED    the card left

`open(reader)` connects to the card (shared mode, T=1 or T=0) and gives a `PcscChannel`; its `transmit`
maps PC/SC failures to `CardRemoved` (the card is gone or did not answer) or `ReaderGone` (the reader
or the PC/SC service is gone). PC/SC result codes are logged with their names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from smartcard import scard

from edge.devices.desk.errors import CardRemoved, NoCard, ReaderGone

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"
WATCH_TIMEOUT_MS = 1000
SERVICE_RETRY_S = 0.5
_STATE_MASK = ~scard.SCARD_STATE_CHANGED & 0xFFFFFFFF

_REMOVED = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
}
_GONE = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_INVALID_HANDLE,
}
_SERVICE_DOWN = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE}


def describe(hresult: int) -> str:
    """A PC/SC result code as text ("Card was removed. (0x80100069)")."""
    try:
        text = str(scard.SCardGetErrorMessage(hresult)).strip()
    except (TypeError, ValueError, OverflowError):
        text = "unknown"
    return f"{text} (0x{hresult & 0xFFFFFFFF:08X})"


class EventKind(StrEnum):
    READER_ADDED = "reader_added"
    READER_GONE = "reader_gone"
    CARD_INSERTED = "card_inserted"
    CARD_REMOVED = "card_removed"


@dataclass(frozen=True, slots=True)
class ReaderEvent:
    kind: EventKind
    reader: str
    atr: bytes = b""


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    present: bool
    atr: bytes = b""
    events: int = 0  # pcsc-lite's card event counter (upper 16 bits of the event state)


def list_readers(context: Any) -> list[str]:
    """Reader names (blocking); [] when there are none; `ReaderGone("*")` when PC/SC is down."""
    hresult, readers = scard.SCardListReaders(context, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []
    if hresult != scard.SCARD_S_SUCCESS:
        raise ReaderGone("*", describe(hresult))
    return list(readers)


def _establish() -> Any:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise ReaderGone("*", f"PC/SC service: {describe(hresult)}")
    return context


class PcscChannel:
    """The card in one reader, connected in shared mode. `transmit` runs in a worker thread."""

    def __init__(self, reader: str, context: Any, card: Any, protocol: int, atr: bytes) -> None:
        self.reader = reader
        self.atr = atr
        self._context = context
        self._card = card
        self._pci = scard.SCARD_PCI_T1 if protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    def connect_blocking(cls, reader: str) -> PcscChannel:
        context = _establish()
        try:
            hresult, card, protocol = scard.SCardConnect(
                context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise _connect_error(hresult, reader, context)
            hresult, _name, _state, _proto, atr = scard.SCardStatus(card)
            atr_bytes = bytes(atr) if hresult == scard.SCARD_S_SUCCESS else b""
        except BaseException:
            scard.SCardReleaseContext(context)
            raise
        return cls(reader, context, card, protocol, atr_bytes)

    def _transmit_blocking(self, apdu: bytes) -> bytes:
        hresult, response = scard.SCardTransmit(self._card, self._pci, list(apdu))
        if hresult != scard.SCARD_S_SUCCESS:
            raise _transmit_error(hresult, self.reader, self._context)
        if len(response) < 2:  # vpcd and some readers report a card lost mid-APDU as an empty answer
            raise CardRemoved(f"card in {self.reader} gave no answer")
        return bytes(response)

    async def transmit(self, apdu: bytes) -> bytes:
        if self._closed:
            raise CardRemoved(f"the connection to {self.reader} is closed")
        async with self._lock:
            return await asyncio.to_thread(self._transmit_blocking, apdu)

    def _close_blocking(self) -> None:
        scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(self._context)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await asyncio.to_thread(self._close_blocking)


def _reader_listed(reader: str, context: Any) -> bool:
    try:
        return reader in list_readers(context)
    except ReaderGone:
        return False


def _connect_error(hresult: int, reader: str, context: Any) -> Exception:
    if hresult in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD):
        return NoCard(f"no card in {reader}")
    if hresult in _GONE or not _reader_listed(reader, context):
        return ReaderGone(reader, describe(hresult))
    return CardRemoved(f"cannot connect to the card in {reader}: {describe(hresult)}")


def _transmit_error(hresult: int, reader: str, context: Any) -> Exception:
    if hresult in _REMOVED:
        return CardRemoved(f"card in {reader}: {describe(hresult)}")
    if hresult in _GONE or not _reader_listed(reader, context):
        return ReaderGone(reader, describe(hresult))
    # not transacted, comm error: the card (or its link) went away mid-APDU
    return CardRemoved(f"card in {reader} did not answer: {describe(hresult)}")


class DeskReader:
    """Watches the PC/SC readers; events on `next_event()`; `open(reader)` for a card channel.

    `accept(name)` chooses the readers to watch (default: all); a PSAM slot can be left out.
    """

    def __init__(self, accept: Callable[[str], bool] | None = None) -> None:
        self._accept = accept or (lambda _name: True)
        self._queue: asyncio.Queue[ReaderEvent] = asyncio.Queue()
        self._status: dict[str, ReaderStatus] = {}
        self._stop = threading.Event()
        self._context: Any = None
        self._context_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def readers(self) -> dict[str, ReaderStatus]:
        """The readers seen now and whether a card is in each (updated by the events)."""
        return dict(self._status)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._task = asyncio.create_task(asyncio.to_thread(self._watch), name="desk-reader-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        with self._context_lock:
            if self._context is not None:
                scard.SCardCancel(self._context)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def __aenter__(self) -> DeskReader:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def next_event(self) -> ReaderEvent:
        return await self._queue.get()

    async def open(self, reader: str) -> PcscChannel:
        """Connect to the card in `reader`: `NoCard`, `ReaderGone` or `CardRemoved` when it cannot."""
        return await asyncio.to_thread(PcscChannel.connect_blocking, reader)

    # ------------------------------------------------------------------------ watcher thread

    def _emit(self, event: ReaderEvent) -> None:
        log.info("desk reader: %s %s %s", event.kind.value, event.reader, event.atr.hex().upper())
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def _set_context(self, context: Any) -> None:
        with self._context_lock:
            old, self._context = self._context, context
        if old is not None:
            scard.SCardReleaseContext(old)

    def _watch(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._set_context(_establish())
                except ReaderGone as exc:
                    log.debug("desk reader: %s", exc)
                    self._stop.wait(SERVICE_RETRY_S)
                    continue
                self._watch_service()
                self._all_gone("PC/SC service stopped")
                self._stop.wait(SERVICE_RETRY_S)
        finally:
            self._set_context(None)

    def _all_gone(self, why: str) -> None:
        for reader in list(self._status):
            self._reader_gone(reader, why)

    def _reader_gone(self, reader: str, why: str) -> None:
        status = self._status.pop(reader, None)
        if status is None:
            return
        log.warning("desk reader %s is gone: %s", reader, why)
        if status.present:
            self._emit(ReaderEvent(EventKind.CARD_REMOVED, reader))
        self._emit(ReaderEvent(EventKind.READER_GONE, reader))

    def _sync_readers(self, names: Iterable[str]) -> None:
        wanted = [n for n in names if self._accept(n)]
        for reader in [r for r in self._status if r not in wanted]:
            self._reader_gone(reader, "no longer listed")
        for reader in wanted:
            if reader not in self._status:
                self._status[reader] = ReaderStatus(present=False)
                self._emit(ReaderEvent(EventKind.READER_ADDED, reader))

    def _watch_service(self) -> None:
        """Watch until the service goes away or stop is asked."""
        context = self._context
        try:
            self._sync_readers(list_readers(context))
        except ReaderGone:
            return
        states: dict[str, int] = {PNP_READER: scard.SCARD_STATE_UNAWARE}
        for reader in self._status:
            states[reader] = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            hresult, changes = scard.SCardGetStatusChange(context, WATCH_TIMEOUT_MS, list(states.items()))
            if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
                continue
            if hresult in _SERVICE_DOWN:
                log.warning("desk reader: PC/SC service lost: %s", describe(hresult))
                return
            if hresult == scard.SCARD_E_UNKNOWN_READER:
                states = self._relist(context, states)
                continue
            if hresult != scard.SCARD_S_SUCCESS:
                log.warning("desk reader: status change failed: %s", describe(hresult))
                self._stop.wait(SERVICE_RETRY_S)
                if not _service_alive(context):
                    return
                continue
            relist = False
            for reader, event_state, atr in changes:
                states[reader] = event_state & _STATE_MASK
                if not event_state & scard.SCARD_STATE_CHANGED:
                    continue
                if reader == PNP_READER:
                    relist = True
                    continue
                self._card_state(reader, event_state, bytes(atr))
                if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    relist = True
            if relist:
                states = self._relist(context, states)

    def _relist(self, context: Any, states: dict[str, int]) -> dict[str, int]:
        try:
            names = list_readers(context)
        except ReaderGone:
            names = []
        self._sync_readers(names)
        kept = {PNP_READER: states.get(PNP_READER, scard.SCARD_STATE_UNAWARE)}
        for reader in self._status:
            kept[reader] = states.get(reader, scard.SCARD_STATE_UNAWARE)
        return kept

    def _card_state(self, reader: str, event_state: int, atr: bytes) -> None:
        status = self._status.get(reader)
        if status is None:
            return
        present = bool(event_state & scard.SCARD_STATE_PRESENT) and not event_state & scard.SCARD_STATE_MUTE
        events = (event_state >> 16) & 0xFFFF
        swapped = status.present and (atr != status.atr or events != status.events)
        if present and (not status.present or swapped):
            if status.present:  # another card (or the same one again) between two looks
                self._emit(ReaderEvent(EventKind.CARD_REMOVED, reader))
            self._status[reader] = ReaderStatus(True, atr, events)
            self._emit(ReaderEvent(EventKind.CARD_INSERTED, reader, atr))
        elif not present and status.present:
            self._status[reader] = ReaderStatus(False, b"", events)
            self._emit(ReaderEvent(EventKind.CARD_REMOVED, reader))
        else:
            self._status[reader] = ReaderStatus(status.present, status.atr, events)


def _service_alive(context: Any) -> bool:
    return bool(scard.SCardIsValidContext(context) == scard.SCARD_S_SUCCESS)
