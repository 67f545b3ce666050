"""The persistent state of a virtual fuel card, and its JSON file.

Layer: firmware-sim (pure data + one atomic file write). Everything a real card keeps across power
cycles: its files, purses, counters, log, PIN, grey lock and transaction proofs. The session state
(selected application, pending INITIALIZE, challenge, PIN verified) is not here: a power-off loses it.

The file is JSON, written atomically (temporary file, fsync, rename) after every APDU that changed the
card, so a test can read the balance after a tear or after the process was killed::

    {"asn": "...", "foreign": false, "files": {"15": "<hex>", ...}, "ep": [balance, online, offline],
     "ed": [..] | null, "log": ["<hex>", ...], "pin": "123456", "pin_tries": 3,
     "grey": "<hex 30>", "proofs": {"02:0001": "<hex 8>"}, "atr": "<hex>"}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.card.files import GreyState, GreyStatus, LogRecord

PIN_TRIES = 3
LOG_SLOTS = LogRecord.RECORDS
PROOF_SLOTS = 20


def make_atr(historical: bytes) -> bytes:
    """An ISO 7816-3 ATR offering T=1 with `historical` bytes and its check byte TCK."""
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


FUEL_ATR = make_atr(b"FUELCARD")
FOREIGN_ATR = make_atr(b"BANKCARD")


@dataclass
class Purse:
    balance: int = 0
    online_counter: int = 0
    offline_counter: int = 0


@dataclass
class CardState:
    """What the card remembers. `files` maps SFI -> raw bytes; `log` is newest first."""

    asn: str
    files: dict[int, bytes] = field(default_factory=dict)
    ep: Purse = field(default_factory=Purse)
    ed: Purse | None = None
    log: list[bytes] = field(default_factory=list)
    pin: str = "123456"
    pin_tries: int = PIN_TRIES
    grey: bytes = field(default_factory=lambda: GreyStatus(GreyState.NORMAL).encode())
    proofs: dict[str, bytes] = field(default_factory=dict)
    foreign: bool = False
    atr: bytes = FUEL_ATR

    def to_json(self) -> dict[str, Any]:
        return {
            "asn": self.asn,
            "foreign": self.foreign,
            "atr": self.atr.hex(),
            "files": {f"{sfi:02X}": raw.hex() for sfi, raw in sorted(self.files.items())},
            "ep": [self.ep.balance, self.ep.online_counter, self.ep.offline_counter],
            "ed": None
            if self.ed is None
            else [self.ed.balance, self.ed.online_counter, self.ed.offline_counter],
            "log": [raw.hex() for raw in self.log],
            "pin": self.pin,
            "pin_tries": self.pin_tries,
            "grey": self.grey.hex(),
            "proofs": {key: raw.hex() for key, raw in self.proofs.items()},
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CardState:
        ed = obj.get("ed")
        return cls(
            asn=str(obj["asn"]),
            foreign=bool(obj.get("foreign", False)),
            atr=bytes.fromhex(obj.get("atr", FUEL_ATR.hex())),
            files={int(k, 16): bytes.fromhex(v) for k, v in obj["files"].items()},
            ep=Purse(*obj["ep"]),
            ed=None if ed is None else Purse(*ed),
            log=[bytes.fromhex(v) for v in obj["log"]],
            pin=str(obj["pin"]),
            pin_tries=int(obj["pin_tries"]),
            grey=bytes.fromhex(obj["grey"]),
            proofs={k: bytes.fromhex(v) for k, v in obj["proofs"].items()},
        )


def save_state(path: Path, state: CardState) -> None:
    """Write the state atomically: a reader sees the old or the new file, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps(state.to_json(), ensure_ascii=False, indent=1).encode()
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_state(path: Path) -> CardState:
    return CardState.from_json(json.loads(path.read_text(encoding="utf-8")))
