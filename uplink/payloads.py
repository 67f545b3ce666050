"""The uplink message contract: one typed payload per message type, serialised here and only here.

Layer: uplink (pure). Every payload is a frozen dataclass; `encode()` turns it into compact UTF-8 JSON
with sorted keys, `decode()` turns bytes back into the dataclass, checking every field. Each payload
knows its stream (the topic's last level) and derives its own idempotency key from its fields, so a
message re-sent after an outage or on request carries the same key and the centre drops the copy::

    {"v": 1, "type": "record", "key": "rec:S1:bus1:3:1207", "station": "S1", "line": "bus1", …}

`v` is the schema version (`SCHEMA_VERSION`): a consumer refuses a major version it does not know and
ignores fields it does not know (new optional fields do not bump `v`). The contract is documented in
`docs/mqtt.md`.

Key formats (text parts percent-escaped, `:` separated):

    record    rec:{station}:{line}:{dispenser}:{pos_ttc}            (conflict copy: …:c:{sha256(raw)[:16]})
    alarm     alarm:{station}:{alarm_id}:{count}                    (cleared: alarm:{station}:{id}:cleared)
    dispenser disp:{station}:{line}:{dispenser}:{at}
    device    dev:{station}:{kind}:{device}:{event}:{at}
    totals    totals:{station}:{line}:{dispenser}:{read_at}
    decision  decision:{station}:{line}:{dispenser}:{nzn}:{asn}:{at}
    shift     shift:{station}:{shift_id}:{event}
    desk      desk:{station}:{op_key}:{state}                        (one per desk operation and final state)
    reply     reply:{station}:{audit_id}
    status    status:{station}:{session}:{online|offline}
    live      live:{station}:{at}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Union
from urllib.parse import quote

from uplink.errors import PayloadError
from uplink.topics import Stream

SCHEMA_VERSION: Final = 1


def _q(part: object) -> str:
    return quote(str(part), safe="-_.~")


def _key(*parts: object) -> str:
    return ":".join(_q(p) for p in parts)


@dataclass(frozen=True, slots=True)
class RecordPayload:
    """One transaction record of the journal (any T_TYPE: sale, grey, grey unlock, shift, cash …).

    Units as on the wire: money in fen, volume in 0.01 of the product unit, price in fen per unit.
    `raw` is the record's exact 95 bytes as lower-case hex; the other fields are decoded from it."""

    TYPE: ClassVar[str] = "record"
    STREAM: ClassVar[Stream] = Stream.RECORDS

    station: str
    line: str
    dispenser: int
    pos_ttc: int
    t_type: int
    kind: str
    """T_TYPE b3..b0 by name: sale, grey, wrong_card, grey_unlock, supplementary, on_duty, off_duty,
    cash, price_receipt, card_error (or the number as text)."""
    time: str
    """Sale start time, station local `YYYY-MM-DDThh:mm:ss` (the raw digits when not a valid time)."""
    asn: str
    bal: int
    amn: int
    ctc: int
    ds: int
    unit: int
    c_type: int
    nzn: int
    g_code: str
    vol: int
    prc: int
    emp: int
    v_tot: int
    raw: str
    conflict: bool = False
    """True for a copy the dispenser re-sent with different bytes (kept beside the original)."""

    @property
    def key(self) -> str:
        base = _key("rec", self.station, self.line, self.dispenser, self.pos_ttc)
        if self.conflict:
            return f"{base}:c:{hashlib.sha256(self.raw.encode('ascii')).hexdigest()[:16]}"
        return base


@dataclass(frozen=True, slots=True)
class AlarmPayload:
    """The state of one alarm row after a raise (or a repeat, `count` > 1) or a clear."""

    TYPE: ClassVar[str] = "alarm"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    alarm_id: int
    source: str
    code: str
    severity: str
    message: str
    count: int
    raised_at: str
    last_seen: str
    state: str
    """`raised` or `cleared`."""
    cleared_at: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        tail = "cleared" if self.state == "cleared" else self.count
        return _key("alarm", self.station, self.alarm_id, tail)


@dataclass(frozen=True, slots=True)
class DispenserPayload:
    """A dispenser started or stopped answering."""

    TYPE: ClassVar[str] = "dispenser"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    line: str
    dispenser: int
    online: bool
    at: str

    @property
    def key(self) -> str:
        return _key("disp", self.station, self.line, self.dispenser, self.at)


@dataclass(frozen=True, slots=True)
class DevicePayload:
    """Something a field device reported (a door opened, a scale finished a filling …): any device kind
    uses this one message, its own readings in `fields`."""

    TYPE: ClassVar[str] = "device"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    kind: str
    device: str
    event: str
    at: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _key("dev", self.station, self.kind, self.device, self.event, self.at)


@dataclass(frozen=True, slots=True)
class NozzleTotalItem:
    nzn: int
    v_tot: int


@dataclass(frozen=True, slots=True)
class TotalsPayload:
    """One 0x38 reading: the volume totals of every nozzle of a dispenser."""

    TYPE: ClassVar[str] = "totals"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    line: str
    dispenser: int
    read_at: str
    nozzles: tuple[NozzleTotalItem, ...]

    @property
    def key(self) -> str:
        return _key("totals", self.station, self.line, self.dispenser, self.read_at)


@dataclass(frozen=True, slots=True)
class DecisionPayload:
    """A card rule decision the station took locally (allow, refuse, warn)."""

    TYPE: ClassVar[str] = "decision"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    line: str
    dispenser: int
    nzn: int
    asn: str
    allowed: bool
    reason: str
    """The refusal / warning reason by name (`ok` when allowed without remark)."""
    at: str
    kind: str = ""
    """What was decided: `0x36` list query, `0x35` grey unlock, `desk`, `0x31` card inserted."""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _key("decision", self.station, self.line, self.dispenser, self.nzn, self.asn, self.at)


@dataclass(frozen=True, slots=True)
class DayClosePayload:
    """A business day closed (日结): its frozen figures, sent in the closing transaction."""

    TYPE: ClassVar[str] = "day_close"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    day: str
    """The business day, `YYYY-MM-DD`."""
    closed_at: str
    operator: str
    last_record_id: int
    """The journal's high-water mark at the close: the figures cover records up to it."""
    digest: str
    """SHA-256 of the frozen figures as stored (canonical JSON)."""
    figures: dict[str, Any] = field(default_factory=dict)
    """The frozen report: total and sections (storage.reports.core.figures_json)."""

    @property
    def key(self) -> str:
        return _key("dayclose", self.station, self.day)


@dataclass(frozen=True, slots=True)
class ShiftPayload:
    """A shift opened or closed at the desk (a close carries the shift report's figures)."""

    TYPE: ClassVar[str] = "shift"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    shift_id: str
    event: str
    """`open` or `close`."""
    at: str
    operator: str
    """Who opened (or closed) the shift."""
    handed_to: str = ""
    """For a close with handover: who opens the next shift."""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _key("shift", self.station, self.shift_id, self.event)


@dataclass(frozen=True, slots=True)
class DeskPayload:
    """A desk operation (top-up, grey unlock, issue, replace, lost, cancel, reinstate, cylinder date,
    clear, PIN change) in its final state, queued in the operation's own transaction (docs/desk.md)."""

    TYPE: ClassVar[str] = "desk"
    STREAM: ClassVar[Stream] = Stream.EVENTS

    station: str
    op_key: str
    """The operation's idempotency key (a UUID chosen when the operation started)."""
    op: str
    asn: str
    state: str
    """`confirmed`, `refused`, `unresolved` (two-phase operations) or `done`."""
    at: str
    operator: str
    role: str
    amount: int | None = None
    payment: str = ""
    balance_before: int | None = None
    balance_after: int | None = None
    counter_before: int | None = None
    other_asn: str = ""
    resolution: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _key("desk", self.station, self.op_key, self.state)


@dataclass(frozen=True, slots=True)
class ReplyPayload:
    """The station's answer to a downlink document: applied, or rejected with the reason."""

    TYPE: ClassVar[str] = "reply"
    STREAM: ClassVar[Stream] = Stream.REPLY

    station: str
    audit_id: int
    outcome: str
    """`applied` or `rejected`."""
    reason: str
    detail: str
    at: str
    doc: str = ""
    """The document id (SHA-256 of the signed body, hex), when known."""
    kind: str = ""
    version: int = 0

    @property
    def key(self) -> str:
        return _key("reply", self.station, self.audit_id)


@dataclass(frozen=True, slots=True)
class StatusPayload:
    """The RETAINED station status; the broker publishes the offline copy as the Will."""

    TYPE: ClassVar[str] = "status"
    STREAM: ClassVar[Stream] = Stream.STATUS

    station: str
    online: bool
    at: str
    session: str
    """Random id of this connection (the Will carries the same one)."""
    software: str = ""

    @property
    def key(self) -> str:
        return _key("status", self.station, self.session, "online" if self.online else "offline")


@dataclass(frozen=True, slots=True)
class LiveNozzle:
    line: str
    dispenser: int
    nzn: int
    state: str
    g_code: str = ""
    amn: int = 0
    vol: int = 0
    prc: int = 0
    at: str = ""


@dataclass(frozen=True, slots=True)
class LivePayload:
    """Latest nozzle states (QoS 0, not stored): all of them when `full`, else those that changed."""

    TYPE: ClassVar[str] = "live"
    STREAM: ClassVar[Stream] = Stream.LIVE

    station: str
    at: str
    full: bool
    nozzles: tuple[LiveNozzle, ...]

    @property
    def key(self) -> str:
        return _key("live", self.station, self.at)


Payload = (
    RecordPayload
    | AlarmPayload
    | DispenserPayload
    | DevicePayload
    | TotalsPayload
    | DecisionPayload
    | ShiftPayload
    | DayClosePayload
    | DeskPayload
    | ReplyPayload
    | StatusPayload
    | LivePayload
)

PAYLOAD_TYPES: Final[Mapping[str, type[Any]]] = {
    cls.TYPE: cls
    for cls in (
        RecordPayload,
        AlarmPayload,
        DispenserPayload,
        DevicePayload,
        TotalsPayload,
        DecisionPayload,
        ShiftPayload,
        DayClosePayload,
        DeskPayload,
        ReplyPayload,
        StatusPayload,
        LivePayload,
    )
}


# --- serialisation --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def to_json_obj(payload: Payload) -> dict[str, Any]:
    """The JSON object of a payload: `v`, `type`, `key` and every field."""
    obj: dict[str, Any] = {f.name: _plain(getattr(payload, f.name)) for f in dataclasses.fields(payload)}
    obj["v"] = SCHEMA_VERSION
    obj["type"] = payload.TYPE
    obj["key"] = payload.key
    return obj


def encode(payload: Payload) -> bytes:
    """The exact bytes published for `payload` (compact JSON, sorted keys, UTF-8)."""
    return json.dumps(
        to_json_obj(payload), separators=(",", ":"), sort_keys=True, ensure_ascii=False
    ).encode()


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(option, value, path)
            except PayloadError:
                continue
        raise PayloadError(f"{path}: {value!r} does not match {hint}")
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise PayloadError(f"{path}: must be an array")
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise PayloadError(f"{path}: must be an object")
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise PayloadError(f"{path}: must be an object")
        return _build(hint, value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise PayloadError(f"{path}: must be true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise PayloadError(f"{path}: must be an integer")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise PayloadError(f"{path}: must be a string")
        return value
    raise PayloadError(f"{path}: unsupported type {hint}")  # pragma: no cover - contract types only


def _build(cls: type[Any], obj: dict[str, Any], path: str) -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        where = f"{path}.{f.name}" if path else f.name
        if f.name not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PayloadError(f"{where}: missing")
            continue
        kwargs[f.name] = _coerce(hints[f.name], obj[f.name], where)
    return cls(**kwargs)


def decode(data: bytes) -> Payload:
    """Parse and check one uplink message (what a centre does); raises `PayloadError`.

    Checks the schema version, the type, every field's type and that `key` is the one the fields
    give (a message whose key does not match its content is refused). Unknown fields are ignored."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}", data) from exc
    if not isinstance(obj, dict):
        raise PayloadError("not a JSON object", data)
    if obj.get("v") != SCHEMA_VERSION:
        raise PayloadError(f"schema version {obj.get('v')!r} is not {SCHEMA_VERSION}", data)
    cls = PAYLOAD_TYPES.get(obj.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise PayloadError(f"unknown message type {obj.get('type')!r}", data)
    try:
        payload: Payload = _build(cls, obj, "")
    except PayloadError as exc:
        raise PayloadError(f"{cls.TYPE}: {exc}", data) from None
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{cls.TYPE}: {exc}", data) from exc
    if obj.get("key") != payload.key:
        raise PayloadError(f"key {obj.get('key')!r} does not match the content ({payload.key!r})", data)
    return payload
