"""Downloads on the dispenser side (0x33 / 0x34) and the files a dispenser keeps.

Layer: firmware-sim (pure). Spec A4/A6:

    0x30 H versions ──(mismatch for 5 consecutive polls, version 0 ignored)──▶ start CONTENT
    0x33 P (CONTENT, IBL_VER)  ──▶ 0x33 H (TOTAL_LEN)     0 = valid and empty
    0x34 P (CONTENT, S_OFFSET, SEG=30) ──▶ 0x34 H (DATA ≤ 480 bytes)   … until TOTAL_LEN bytes
    complete ──▶ parse with `protocol.downloads`, keep, use

One download at a time, the lowest CONTENT first. The version a dispenser "holds" is the wire version
of the 0x30 that started the download (full 16 bits for the base blacklist, the low byte otherwise).
A file that fails to parse is reported (`Completed.error`) and not kept: the version stays unheld, so
the download is retried after another 5 polls.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from protocol.downloads import (
    SEGMENT_LEN,
    DownloadError,
    ListFile,
    PriceRecord,
    PriceTable,
    StationInfo,
    pack_asn,
)
from protocol.messages import Content, DownloadInfo, DownloadStart, PollReply, SegmentData, SegmentRequest

log = logging.getLogger(__name__)

MISMATCH_POLLS = 5
SEGMENTS_PER_REQUEST = 30
MAX_DOWNLOAD_BYTES = 16 * 1024 * 1024

VERSION_FIELDS: dict[int, str] = {
    int(Content.BASE_BLACKLIST): "bl_ver",
    int(Content.ADDED_BLACKLIST): "add_bl_ver",
    int(Content.DELETED_BLACKLIST): "del_bl_ver",
    int(Content.WHITE_LIST): "wh_ver",
    int(Content.PRICE_TABLE): "prc_ver",
    int(Content.STATION_INFO): "sta_ver",
}
LIST_CONTENTS = (Content.BASE_BLACKLIST, Content.ADDED_BLACKLIST, Content.DELETED_BLACKLIST)


@dataclass(slots=True)
class Transfer:
    content: int
    version: int
    total: int | None = None
    """TOTAL_LEN once the 0x33 answer arrived."""
    data: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True, slots=True)
class Completed:
    """A download that finished: `error` is set when the file could not be parsed (not kept)."""

    content: int
    version: int
    data: bytes
    error: str = ""


class FileStore:
    """Versions held, the files themselves (raw and parsed), and the transfer in progress."""

    def __init__(self) -> None:
        self.held: dict[int, int] = {}
        self.raw: dict[int, bytes] = {}
        self.lists: dict[int, ListFile] = {}
        self.prices: PriceTable | None = None
        self.station: StationInfo | None = None
        self.mismatch: dict[int, tuple[int, int]] = {}
        """CONTENT -> (announced version, consecutive polls announcing it)."""
        self.active: Transfer | None = None

    # --- versions ---------------------------------------------------------------------------------

    def held_version(self, content: int) -> int:
        return self.held.get(content, 0)

    def observe(self, poll: PollReply) -> None:
        """Count version mismatches (the 5-poll rule) and start a download when one persists."""
        for content, name in VERSION_FIELDS.items():
            wanted = int(getattr(poll, name))
            if wanted == 0 or wanted == self.held_version(content):
                self.mismatch.pop(content, None)
                continue
            seen, count = self.mismatch.get(content, (wanted, 0))
            self.mismatch[content] = (wanted, count + 1 if seen == wanted else 1)
        if self.active is None:
            for content in sorted(self.mismatch):
                wanted, count = self.mismatch[content]
                if count >= MISMATCH_POLLS:
                    log.info("download of CONTENT %d version %d starts", content, wanted)
                    self.active = Transfer(content, wanted)
                    break

    # --- the transfer -----------------------------------------------------------------------------

    def next_request(self) -> DownloadStart | SegmentRequest | None:
        """The 0x33 or 0x34 request the dispenser has to send next, if any."""
        tr = self.active
        if tr is None:
            return None
        if tr.total is None:
            return DownloadStart(content=tr.content, ibl_ver=tr.version & 0xFFFF)
        offset = len(tr.data) // SEGMENT_LEN
        remaining = tr.total - len(tr.data)
        seg = min(SEGMENTS_PER_REQUEST, -(-remaining // SEGMENT_LEN))
        return SegmentRequest(content=tr.content, s_offset=offset, seg=seg)

    def on_info(self, msg: DownloadInfo) -> Completed | None:
        tr = self.active
        if tr is None or msg.content != tr.content or tr.total is not None:
            log.debug("0x33 answer %s does not fit the transfer %s: ignored", msg, tr)
            return None
        if msg.total_len > MAX_DOWNLOAD_BYTES:
            self.active = None
            return Completed(tr.content, tr.version, b"", f"TOTAL_LEN {msg.total_len} is too large")
        tr.total = msg.total_len
        return self._finish() if tr.total == 0 else None

    def on_segment(self, msg: SegmentData) -> Completed | None:
        tr = self.active
        if tr is None or tr.total is None or msg.content != tr.content:
            log.debug("0x34 answer for CONTENT %d does not fit the transfer: ignored", msg.content)
            return None
        if msg.s_offset * SEGMENT_LEN != len(tr.data) or len(tr.data) % SEGMENT_LEN:
            log.warning("0x34 answer at segment %d, expected %d: ignored", msg.s_offset, len(tr.data) // 16)
            return None
        if not msg.data:
            self.active = None
            return Completed(
                tr.content, tr.version, bytes(tr.data), "0x34 answer without data before the end"
            )
        tr.data += msg.data[: tr.total - len(tr.data)]
        if len(tr.data) >= tr.total:
            return self._finish()
        if len(msg.data) % SEGMENT_LEN:
            self.active = None
            return Completed(tr.content, tr.version, bytes(tr.data), "short 0x34 answer before the end")
        return None

    def _finish(self) -> Completed:
        tr = self.active
        assert tr is not None
        self.active = None
        self.mismatch.pop(tr.content, None)
        data = bytes(tr.data)
        try:
            self.install(tr.content, tr.version, data)
        except DownloadError as exc:
            return Completed(tr.content, tr.version, data, str(exc))
        return Completed(tr.content, tr.version, data)

    # --- files ------------------------------------------------------------------------------------

    def install(self, content: int, version: int, data: bytes) -> None:
        """Parse and keep a file (also used when a state file is reloaded)."""
        if content in (*LIST_CONTENTS, Content.WHITE_LIST):
            if data:
                self.lists[content] = ListFile.parse(data)
            else:
                self.lists.pop(content, None)
        elif content == Content.PRICE_TABLE:
            self.prices = PriceTable.parse(data) if data else None
        elif content == Content.STATION_INFO:
            self.station = StationInfo.parse(data) if data else None
        self.raw[int(content)] = data
        self.held[int(content)] = version

    # --- use --------------------------------------------------------------------------------------

    def price(self, nzn: int, level: int, now: dt.datetime) -> tuple[str, int] | None:
        """(G_CODE, price) of nozzle `nzn` at price `level` from the downloaded table, if it has one."""
        table = self.prices
        if table is None:
            return None
        records = table.new if table.new and now >= table.effective else table.current
        rec: PriceRecord | None = next((r for r in records if r.nzn == nzn), None)
        if rec is None or not rec.prices:
            return None
        return rec.g_code, rec.prices[min(level, len(rec.prices) - 1)]

    def holds_all_lists(self) -> bool:
        """Base, added, deleted blacklists and the white list are all held."""
        return all(c in self.lists for c in (*LIST_CONTENTS, Content.WHITE_LIST))

    def list_versions(self) -> dict[str, int]:
        """The held version of each list, by CONTENT number (for the ledger)."""
        return {str(int(c)): self.held_version(c) for c in (*LIST_CONTENTS, Content.WHITE_LIST)}

    def local_decision(self, asn: str, internal: bool, today: dt.date) -> bool | None:
        """Decide with the local lists: True allow, False refuse, None cannot decide (ask 0x36).

        Usable only while every list involved is present and within its dates; the caller checks the
        card's province against the station's."""
        try:
            key = pack_asn(asn)
        except DownloadError:
            return None
        if internal:
            white = self.lists.get(Content.WHITE_LIST)
            if white is None or not white.header.valid_on(today):
                return None
            return _contains(white, key)
        files = [self.lists.get(c) for c in LIST_CONTENTS]
        if any(f is None or not f.header.valid_on(today) for f in files):
            return None
        base, added, deleted = files
        assert base is not None and added is not None and deleted is not None
        black = (_contains(base, key) or _contains(added, key)) and not _contains(deleted, key)
        return not black


def _contains(lst: ListFile, key: bytes) -> bool:
    return key.hex() in lst
