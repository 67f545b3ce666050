"""Typed messages of the local control API (daemon ⇄ TUI / CLI) and their one wire codec.

Layer: edge, but standard library and the shared words only (`protocol.words`: kind names, payment
modes, EMP_NONE): this is the ONE module of `edge` that clients (the TUI,
`station status`) import. Everything here is a frozen dataclass; `encode()` and `decode()` are the
only places that know the wire form.

Wire form: UTF-8 JSON, one object per line (``\\n`` terminated), at most `MAX_LINE_BYTES`::

    {"v": 1, "type": "nozzle", "line": "bus1", "dispenser": 1, "nzn": 2, "state": "fuelling", ...}
     │       │                 └─ the dataclass fields, nested dataclasses as objects, tuples as arrays
     │       └─ selects the dataclass (`MESSAGE_TYPES`)
     └─ protocol version: a reader refuses a higher major version than `PROTOCOL_VERSION`

Requests (client → daemon) carry `id` (chosen by the client); every reply carries `re` = that id.
Events (daemon → client) carry neither. Unknown fields are ignored (a newer peer may add fields);
missing fields take their default or make the message invalid. Units are the dispenser's: money in
fen (0.01 yuan), volume in 0.01 of the product's unit, prices in fen per unit. Instants are ISO 8601
text. The reference for every message is docs/control-api.md.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, Union

from edge.errors import EdgeError
from protocol.words import EMP_NONE as EMP_NONE
from protocol.words import KIND_NAMES as KIND_NAMES
from protocol.words import PAYMENT_MODES as PAYMENT_MODES
from protocol.words import kind_name as kind_name
from protocol.words import payment_mode as payment_mode

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20
"""Longest accepted line (a snapshot of 128 nozzles with 200 sales is ~100 KiB)."""

JsonScalar = int | float | str | bool | None


class ControlProtocolError(EdgeError):
    """Root of the control API's wire errors."""


class BadMessage(ControlProtocolError):
    """A line that is not a valid message; `raw` is the offending text (truncated)."""

    def __init__(self, why: str, raw: str | bytes = "") -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        super().__init__(f"{why}: {text[:200]!r}" if text else why)
        self.why = why
        self.raw = text[:1000]


class UnknownMessageType(BadMessage):
    """A well-formed message whose `type` this side does not know."""

    def __init__(self, type_name: str, raw: str | bytes = "") -> None:
        super().__init__(f"unknown message type {type_name!r}", raw)
        self.type_name = type_name


class UnsupportedVersion(BadMessage):
    """The peer speaks a newer major protocol version."""

    def __init__(self, version: object, raw: str | bytes = "") -> None:
        super().__init__(f"unsupported protocol version {version!r} (this side: {PROTOCOL_VERSION})", raw)
        self.version = version


class Role(StrEnum):
    """Operator roles, most powerful first (see `edge.auth.roles` for what each may do)."""

    VENDOR = "vendor"
    """Vendor maintenance: initialisation, diagnostics, creating the first station admin."""
    ADMIN = "admin"
    """Station admin: operators, every station operation."""
    SENIOR = "senior"
    """Senior operator: shifts, alarms, unlocking attendants locked out."""
    OPERATOR = "operator"
    """Attendant: shifts, alarms, totals."""
    READONLY = "readonly"
    """Watch only."""


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    CARD_TIMEOUT = "card_timeout"
    BAD_CARD = "bad_card"
    DEMO_DISABLED = "demo_disabled"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    BUSY = "busy"
    INTERNAL = "internal"


# --- shared structures (nested inside messages, no `type` of their own) ---------------------------


@dataclass(frozen=True, slots=True)
class OperatorView:
    username: str
    role: Role
    display_name: str = ""
    locked: bool = False
    failed_logins: int = 0
    has_card: bool = False
    demo: bool = False
    last_login_at: str = ""
    language: str = ""
    """The operator's own language (`zh_CN`, `en`); '' = the station's."""


@dataclass(frozen=True, slots=True)
class StationView:
    id: str
    name: str = ""
    uptime_s: float = 0.0
    demo: bool = False
    software: str = ""


@dataclass(frozen=True, slots=True)
class NozzleTotal:
    nzn: int
    v_tot: int


@dataclass(frozen=True, slots=True)
class DispenserView:
    line: str
    dispenser: int
    label: str = ""
    online: bool = False
    m_info: str = ""
    totals: tuple[NozzleTotal, ...] = ()
    records_stored: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class ShiftView:
    id: int
    opened_at: str
    opened_by: str
    closed_at: str = ""
    closed_by: str = ""
    handed_to: str = ""
    note: str = ""

    @property
    def open(self) -> bool:
        return not self.closed_at


@dataclass(frozen=True, slots=True)
class ReportPayment:
    mode: str
    count: int = 0
    vol: int = 0
    amn: int = 0


@dataclass(frozen=True, slots=True)
class ReportNozzle:
    line: str
    dispenser: int
    nzn: int
    g_code: str = ""
    product: str = ""
    start_v_tot: int | None = None
    end_v_tot: int | None = None
    start_read_at: str = ""
    end_read_at: str = ""
    meter_vol: int | None = None
    sales_count: int = 0
    sales_vol: int = 0
    sales_amn: int = 0
    payments: tuple[ReportPayment, ...] = ()
    difference: int | None = None
    flagged: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportDuty:
    line: str
    dispenser: int
    nzn: int
    emp: int
    on_at: str = ""
    off_at: str = ""
    start_v_tot: int | None = None
    end_v_tot: int | None = None
    meter_vol: int | None = None
    forced: bool = False
    off_asn: str = ""


@dataclass(frozen=True, slots=True)
class ReportEmployee:
    emp: int
    duties: tuple[ReportDuty, ...] = ()
    meter_vol: int | None = None
    sales_count: int = 0
    sales_vol: int = 0
    sales_amn: int = 0
    payments: tuple[ReportPayment, ...] = ()
    difference: int | None = None
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class ShiftReport:
    shift: ShiftView
    generated_at: str
    final: bool = False
    nozzles: tuple[ReportNozzle, ...] = ()
    employees: tuple[ReportEmployee, ...] = ()
    payments: tuple[ReportPayment, ...] = ()
    sales_count: int = 0
    sales_vol: int = 0
    sales_amn: int = 0
    flagged: int = 0
    tolerance: int = 0
    text: str = ""
    csv: str = ""


@dataclass(frozen=True, slots=True)
class TotalsReading:
    line: str
    dispenser: int
    nzn: int
    v_tot: int
    read_at: str = ""
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    outcome: str
    role: str = ""
    source: str = ""
    target: str = ""
    details: str = ""


# --- base classes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    TYPE: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class Request(Message):
    """Client → daemon. `id` is echoed as `re` in the reply."""

    id: int = 0


@dataclass(frozen=True, slots=True)
class AuthRequest(Request):
    """A request that needs an operator session (`token` from `LoginOk`)."""

    token: str = ""


@dataclass(frozen=True, slots=True)
class Reply(Message):
    re: int | None = None


# --- events and the snapshot (daemon → client) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """First line the daemon sends on every connection."""

    TYPE: ClassVar[str] = "hello"
    station_id: str = ""
    station_name: str = ""
    protocol: int = PROTOCOL_VERSION
    software: str = ""
    demo: bool = False
    """The daemon accepts `demo_login` (demo stations only)."""
    language: str = ""
    """The station's language for people (`zh_CN`, `en`): what the login screen speaks."""


@dataclass(frozen=True, slots=True)
class Nozzle(Message):
    """Live status of one nozzle (coalesced: only the newest per nozzle is sent)."""

    TYPE: ClassVar[str] = "nozzle"
    line: str = ""
    dispenser: int = 0
    nzn: int = 0
    state: str = "offline"
    """idle, card, nozzle_up, fuelling, finished, offline"""
    asn: str = ""
    amn: int = 0
    vol: int = 0
    prc: int = 0
    g_code: str = ""
    product: str = ""
    unit: str = ""
    emp: int = 255
    """Employee on duty at the nozzle, 255 = none."""
    at: str = ""
    warning: str = ""

    @property
    def key(self) -> str:
        return f"{self.line}/{self.dispenser}/{self.nzn}"


@dataclass(frozen=True, slots=True)
class Sale(Message):
    """A transaction record committed to the journal (any T_TYPE, shift records included)."""

    TYPE: ClassVar[str] = "sale"
    line: str = ""
    dispenser: int = 0
    pos_ttc: int = 0
    t_type: int = 0
    kind: str = ""
    """sale, grey, wrong_card, grey_unlock, supplementary, on_duty, off_duty, cash, price_receipt, card_error"""
    nzn: int = 0
    asn: str = ""
    amn: int = 0
    vol: int = 0
    prc: int = 0
    g_code: str = ""
    product: str = ""
    emp: int = 255
    payment: str = ""
    """cash, ticket, credit, bank_card, other (record UNIT b7-4); empty when not known."""
    time: str = ""
    at: str = ""

    @property
    def key(self) -> str:
        return f"{self.line}/{self.dispenser}/{self.pos_ttc}"


@dataclass(frozen=True, slots=True)
class Alarm(Message):
    TYPE: ClassVar[str] = "alarm"
    id: int | None = None
    source: str = ""
    code: str = ""
    severity: str = "warning"
    message: str = ""
    raised_at: str = ""
    count: int = 1
    acknowledged_by: str = ""
    acknowledged_at: str = ""
    action: str = ""
    """What the attendant must do now ("stop the sale at nozzle 5"); empty for most alarms."""

    @property
    def key(self) -> str:
        return str(self.id) if self.id is not None else f"{self.source}/{self.code}"


@dataclass(frozen=True, slots=True)
class AlarmAcked(Message):
    TYPE: ClassVar[str] = "alarm_acked"
    id: int = 0
    by: str = ""
    at: str = ""


@dataclass(frozen=True, slots=True)
class AlarmCleared(Message):
    """An active alarm was cleared (the condition went away)."""

    TYPE: ClassVar[str] = "alarm_cleared"
    id: int | None = None
    source: str = ""
    code: str = ""
    at: str = ""


@dataclass(frozen=True, slots=True)
class LineStats(Message):
    """Per-line counters (coalesced per line, about once a second)."""

    TYPE: ClassVar[str] = "line_stats"
    line: str = ""
    mode: str = ""
    stats: dict[str, JsonScalar] = dataclasses.field(default_factory=dict)
    at: str = ""


@dataclass(frozen=True, slots=True)
class Trace(Message):
    """The latest frame seen on a line (coalesced per line)."""

    TYPE: ClassVar[str] = "trace"
    line: str = ""
    direction: str = ""
    hex: str = ""
    summary: str = ""
    at: str = ""


@dataclass(frozen=True, slots=True)
class DispenserStatus(Message):
    TYPE: ClassVar[str] = "dispenser"
    line: str = ""
    dispenser: int = 0
    online: bool = False
    at: str = ""


@dataclass(frozen=True, slots=True)
class DispenserFault(Message):
    """A 0x3B error report from a dispenser."""

    TYPE: ClassVar[str] = "dispenser_error"
    line: str = ""
    dispenser: int = 0
    info_type: int = 0
    text: str = ""
    at: str = ""


@dataclass(frozen=True, slots=True)
class DecisionWarning:
    """A warning on an allowed card, by kind and facts, so a client shows it in its reader's language."""

    kind: str
    """`cylinder_due`, `lost_card_pending`, `check_plate`, `grey_debit_first`"""
    words: str = ""
    """The English words (the daemon's), for a kind the client does not know."""
    due: str = ""
    """A date (`2026-12-02`), when the warning has one."""
    amount: int | None = None
    """Fen, when the warning has an amount."""
    plate: str = ""


@dataclass(frozen=True, slots=True)
class Decision(Message):
    """Why a card was allowed or refused at a nozzle (the rules' decision)."""

    TYPE: ClassVar[str] = "decision"
    line: str = ""
    dispenser: int = 0
    nzn: int = 0
    asn: str = ""
    allowed: bool = False
    reason: str = ""
    """Reason code (the refusal code the centre receives too); empty when allowed."""
    words: str = ""
    """The reason in words, for the attendant."""
    warnings: tuple[str, ...] = ()
    warning_facts: tuple[DecisionWarning, ...] = ()
    """The same warnings by kind and facts."""
    detail: str = ""
    """A refusal's detail as an English template (`Inspection was due on {date}.`), '' for none."""
    detail_facts: dict[str, JsonScalar] = dataclasses.field(default_factory=dict)
    """The values of the detail's placeholders."""
    at: str = ""


@dataclass(frozen=True, slots=True)
class Shift(Message):
    """A station shift was opened or closed."""

    TYPE: ClassVar[str] = "shift"
    shift: ShiftView | None = None


@dataclass(frozen=True, slots=True)
class Device(Message):
    """The state of one field device (a door sensor, a scale, a tank probe …) as its component reports
    it. Any device kind uses this one message; the TUI shows one row per `key` in its devices panel."""

    TYPE: ClassVar[str] = "device"
    kind: str
    """The device kind (`door`, `scale`, `tank` …)."""
    device: str
    """Which device of that kind (its configured name)."""
    state: str = ""
    """Its state in a word (`open`, `filling`, `offline` …)."""
    fields: dict[str, JsonScalar] = dataclasses.field(default_factory=dict)
    """Readings and details, by name (units in the name: `level_mm`, `mass_g`)."""
    at: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.device}"


@dataclass(frozen=True, slots=True)
class Snapshot(Reply):
    """Everything a viewer needs to draw the station; events follow after a `subscribe`."""

    TYPE: ClassVar[str] = "snapshot"
    station: StationView = StationView(id="")
    lines: tuple[LineStats, ...] = ()
    dispensers: tuple[DispenserView, ...] = ()
    nozzles: tuple[Nozzle, ...] = ()
    sales: tuple[Sale, ...] = ()
    """Most recent first."""
    alarms: tuple[Alarm, ...] = ()
    """Active alarms, oldest first."""
    shift: ShiftView | None = None
    decisions: tuple[Decision, ...] = ()
    uplink: dict[str, JsonScalar] = dataclasses.field(default_factory=dict)
    """The centre link: `state` (`not configured`, `connected` …), `broker`, `outbox_depth`,
    `outbox_oldest_age_s`, `drain_rate_per_s`, `in_flight`, `downlink_applied`, `downlink_rejected`."""


@dataclass(frozen=True, slots=True)
class Bye(Message):
    """The daemon closes the connection (shutdown)."""

    TYPE: ClassVar[str] = "bye"
    reason: str = ""


# --- replies --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ok(Reply):
    TYPE: ClassVar[str] = "ok"
    message: str = ""


@dataclass(frozen=True, slots=True)
class Error(Reply):
    TYPE: ClassVar[str] = "error"
    code: str = ErrorCode.BAD_REQUEST
    message: str = ""


@dataclass(frozen=True, slots=True)
class LoginOk(Reply):
    TYPE: ClassVar[str] = "login_ok"
    token: str = ""
    operator: OperatorView = OperatorView(username="", role=Role.READONLY)
    permissions: tuple[str, ...] = ()
    """The request types this session may send."""
    demo: bool = False


@dataclass(frozen=True, slots=True)
class LoginChallenge(Reply):
    """Password accepted; now the employee card: type its number (`login_card`) or present it at a
    nozzle within `seconds`. The final `login_ok` / `error` carries the same `re` as the login."""

    TYPE: ClassVar[str] = "login_challenge"
    challenge: str = ""
    seconds: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class Report(Reply):
    TYPE: ClassVar[str] = "shift_report"
    report: ShiftReport | None = None


@dataclass(frozen=True, slots=True)
class DayClosed(Reply):
    """A business day closed: its frozen figures (count, volume 0.01 unit, amount fen) and report text."""

    TYPE: ClassVar[str] = "day_closed"
    day: str = ""
    closed_at: str = ""
    closed_by: str = ""
    records: int = 0
    volume: int = 0
    amount: int = 0
    last_record_id: int = 0
    digest: str = ""
    adjustments: int = 0
    text: str = ""


@dataclass(frozen=True, slots=True)
class Shifts(Reply):
    TYPE: ClassVar[str] = "shifts"
    shifts: tuple[ShiftView, ...] = ()


@dataclass(frozen=True, slots=True)
class Operators(Reply):
    TYPE: ClassVar[str] = "operators"
    operators: tuple[OperatorView, ...] = ()


@dataclass(frozen=True, slots=True)
class Audit(Reply):
    TYPE: ClassVar[str] = "audit"
    entries: tuple[AuditEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Totals(Reply):
    TYPE: ClassVar[str] = "totals"
    readings: tuple[TotalsReading, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One row of a period report (or a section's total: empty key)."""

    key: str = ""
    label: str = ""
    unit: str = ""
    count: int = 0
    volume: int = 0
    amount: int = 0


@dataclass(frozen=True, slots=True)
class ReportSectionView:
    dimension: str
    title: str = ""
    rows: tuple[ReportLine, ...] = ()
    total: ReportLine = ReportLine()


@dataclass(frozen=True, slots=True)
class PeriodReport(Reply):
    """A day / month / year report: exact integers (count, volume 0.01 unit, amount fen) and its text."""

    TYPE: ClassVar[str] = "period_report"
    kind: str = "day"
    name: str = ""
    start: str = ""
    end: str = ""
    station: str = ""
    total: ReportLine = ReportLine()
    sections: tuple[ReportSectionView, ...] = ()
    closed_at: str = ""
    closed_by: str = ""
    verified: bool = False
    text: str = ""


# --- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe(Request):
    """Send a `snapshot` (re = id), then every event until the connection closes."""

    TYPE: ClassVar[str] = "subscribe"


@dataclass(frozen=True, slots=True)
class GetSnapshot(Request):
    """One `snapshot` reply, no events (`station status`)."""

    TYPE: ClassVar[str] = "get_snapshot"


@dataclass(frozen=True, slots=True)
class Ping(Request):
    TYPE: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class Login(Request):
    TYPE: ClassVar[str] = "login"
    username: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True)
class LoginCard(Request):
    """Answer a `login_challenge` with the employee card number (typed or scanned)."""

    TYPE: ClassVar[str] = "login_card"
    challenge: str = ""
    asn: str = ""


@dataclass(frozen=True, slots=True)
class DemoLogin(Request):
    """Log in as the demo operator; refused unless the daemon runs a demo station."""

    TYPE: ClassVar[str] = "demo_login"


@dataclass(frozen=True, slots=True)
class Logout(AuthRequest):
    TYPE: ClassVar[str] = "logout"


@dataclass(frozen=True, slots=True)
class WhoAmI(AuthRequest):
    """Is this session still valid? (a `login_ok` with the same token, or `unauthenticated`)."""

    TYPE: ClassVar[str] = "whoami"


@dataclass(frozen=True, slots=True)
class AckAlarm(AuthRequest):
    TYPE: ClassVar[str] = "ack_alarm"
    alarm_id: int = 0


@dataclass(frozen=True, slots=True)
class ReadTotals(AuthRequest):
    """Read the nozzle volume totals (0x38) now; all dispensers, or one line / dispenser."""

    TYPE: ClassVar[str] = "read_totals"
    line: str = ""
    dispenser: int | None = None


@dataclass(frozen=True, slots=True)
class OpenShift(AuthRequest):
    TYPE: ClassVar[str] = "open_shift"
    note: str = ""


@dataclass(frozen=True, slots=True)
class CloseShift(AuthRequest):
    """Close the open shift (reads the totals) and reply with the final handover report; with
    `handover_to`, open the next shift for that operator at the same totals."""

    TYPE: ClassVar[str] = "close_shift"
    handover_to: str = ""
    note: str = ""
    language: str = ""
    """The language of the report's text and CSV (`zh_CN`, `en`; '' = the operator's, else the station's)."""


@dataclass(frozen=True, slots=True)
class GetReport(AuthRequest):
    """The handover report of a shift (default: the open one, provisional)."""

    TYPE: ClassVar[str] = "get_report"
    shift_id: int | None = None
    language: str = ""
    """The language of the report's text and CSV (`zh_CN`, `en`; '' = the operator's, else the station's)."""


@dataclass(frozen=True, slots=True)
class GetPeriodReport(AuthRequest):
    """The report of a business day (`value` YYYY-MM-DD), month (YYYY-MM) or year (YYYY); empty `value`:
    the current one. `by`: breakdowns (default product, payment and by time: hour / day / month)."""

    TYPE: ClassVar[str] = "get_period_report"
    kind: str = "day"
    value: str = ""
    by: tuple[str, ...] = ()
    language: str = ""
    """The language of the section titles, item words and text (`zh_CN`, `en`; '' = the operator's, else
    the station's). Keys, codes and figures are the same in every language."""


@dataclass(frozen=True, slots=True)
class CloseDay(AuthRequest):
    """Close a business day (default: the last one that is over); refused with the reasons while a
    shift is open or records of the day may still be in a dispenser."""

    TYPE: ClassVar[str] = "close_day"
    day: str = ""
    language: str = ""
    """The language of the closed day's report `text` ('' = the operator's, else the station's)."""


@dataclass(frozen=True, slots=True)
class ListShifts(AuthRequest):
    TYPE: ClassVar[str] = "list_shifts"
    limit: int = 20


@dataclass(frozen=True, slots=True)
class ListOperators(AuthRequest):
    TYPE: ClassVar[str] = "list_operators"


@dataclass(frozen=True, slots=True)
class AddOperator(AuthRequest):
    TYPE: ClassVar[str] = "add_operator"
    username: str = ""
    role: Role = Role.OPERATOR
    password: str = ""
    display_name: str = ""
    card_asn: str = ""


@dataclass(frozen=True, slots=True)
class SetPassword(AuthRequest):
    """Change a password: one's own (with `old_password`) or another operator's (admins)."""

    TYPE: ClassVar[str] = "set_password"
    username: str = ""
    old_password: str = ""
    new_password: str = ""


@dataclass(frozen=True, slots=True)
class LockOperator(AuthRequest):
    TYPE: ClassVar[str] = "lock_operator"
    username: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UnlockOperator(AuthRequest):
    TYPE: ClassVar[str] = "unlock_operator"
    username: str = ""


@dataclass(frozen=True, slots=True)
class GetAudit(AuthRequest):
    TYPE: ClassVar[str] = "get_audit"
    limit: int = 100


# --- the attendant's desk (docs/desk.md; a card operation acts on the card in the desk reader) -----


@dataclass(frozen=True, slots=True)
class DeskResult(Reply):
    """The answer to every `desk.*` request: what was done, the card as it is now, a text receipt."""

    TYPE: ClassVar[str] = "desk_result"
    op: str = ""
    state: str = ""
    """The operation's state: `confirmed` / `refused` / `unresolved` (money written to a card), `done`;
    '' for a read."""
    op_key: str = ""
    """The operation's idempotency key (also the key of its message to the centre)."""
    message: str = ""
    card: str = ""
    """The card view as JSON text (an object, docs/desk.md "Card view"); '' when no card was involved."""
    receipt: str = ""
    """A printable text receipt (the operator's language)."""
    operations: str = ""
    """`desk.operations`: a JSON array of operation objects (newest first), as text."""

    def card_view(self) -> dict[str, Any]:
        """`card` parsed ({} when empty or not an object)."""
        value = json.loads(self.card) if self.card else {}
        return value if isinstance(value, dict) else {}

    def operation_list(self) -> list[dict[str, Any]]:
        value = json.loads(self.operations) if self.operations else []
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class DeskRead(AuthRequest):
    """Read the card in the desk reader: holder, kind, status, balances, CNG profile, limits, grey state
    (and whether it may be unlocked here and now), the last log records."""

    TYPE: ClassVar[str] = "desk.read"


@dataclass(frozen=True, slots=True)
class DeskPin(AuthRequest):
    """Verify the PIN of the card in the reader, or change it when `new_pin` is given."""

    TYPE: ClassVar[str] = "desk.pin"
    pin: str = ""
    new_pin: str = ""


@dataclass(frozen=True, slots=True)
class DeskTopup(AuthRequest):
    """Load `amount` (fen; 0.01 units for a prepaid-volume card) onto the card in the reader, paid by
    `payment`; `asn` (optional) must be the card in the reader."""

    TYPE: ClassVar[str] = "desk.topup"
    amount: int = 0
    payment: str = "cash"
    asn: str = ""


@dataclass(frozen=True, slots=True)
class DeskUnlock(AuthRequest):
    """Grey unlock at the desk under the rules the pumps use: the amount owed is debited."""

    TYPE: ClassVar[str] = "desk.unlock"
    asn: str = ""


@dataclass(frozen=True, slots=True)
class DeskRegister(AuthRequest):
    """Register a customer, and their vehicle when `plate` is given."""

    TYPE: ClassVar[str] = "desk.register"
    name: str = ""
    phone: str = ""
    id_number: str = ""
    company: str = ""
    plate: str = ""
    vehicle_type: str = ""
    cylinder_id: str = ""
    cylinder_valid_until: str = ""


@dataclass(frozen=True, slots=True)
class DeskIssue(AuthRequest):
    """Issue the blank card in the reader to a registered customer (and vehicle, by `plate`)."""

    TYPE: ClassVar[str] = "desk.issue"
    customer_id: int = 0
    plate: str = ""
    mode: str = "prepaid_amount"
    price_level: int = 0
    card_class: int = 1


@dataclass(frozen=True, slots=True)
class DeskReplace(AuthRequest):
    """Replace the lost card `old_asn` by the card in the reader: the old card's balance moves to it
    (once) and the old card is refused from then on (replaced)."""

    TYPE: ClassVar[str] = "desk.replace"
    old_asn: str = ""


@dataclass(frozen=True, slots=True)
class DeskLost(AuthRequest):
    """Report card `asn` lost. `grace`: the loss takes effect after `[rules] lost_card_grace_working_days`
    (default: at once)."""

    TYPE: ClassVar[str] = "desk.lost"
    asn: str = ""
    reason: str = ""
    grace: bool = False


@dataclass(frozen=True, slots=True)
class DeskCancel(AuthRequest):
    TYPE: ClassVar[str] = "desk.cancel"
    asn: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeskReinstate(AuthRequest):
    TYPE: ClassVar[str] = "desk.reinstate"
    asn: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeskCylinder(AuthRequest):
    """Write the cylinder inspection valid-until date (`YYYY-MM-DD`) onto the CNG card in the reader."""

    TYPE: ClassVar[str] = "desk.cylinder"
    valid_until: str = ""
    asn: str = ""


@dataclass(frozen=True, slots=True)
class DeskClear(AuthRequest):
    """Clear the credit card in the reader (the back office settled what it owed)."""

    TYPE: ClassVar[str] = "desk.clear"
    asn: str = ""


@dataclass(frozen=True, slots=True)
class DeskOperations(AuthRequest):
    """The desk operations (of card `asn`, when given), newest first; `open_only`: those not finished."""

    TYPE: ClassVar[str] = "desk.operations"
    asn: str = ""
    limit: int = 50
    open_only: bool = False


DESK_REQUESTS: tuple[type[AuthRequest], ...] = (
    DeskRead,
    DeskPin,
    DeskTopup,
    DeskUnlock,
    DeskRegister,
    DeskIssue,
    DeskReplace,
    DeskLost,
    DeskCancel,
    DeskReinstate,
    DeskCylinder,
    DeskClear,
    DeskOperations,
)


# --- bottled LPG (served by the LPG component at a station with [lpg]; docs/lpg.md) ----------------


@dataclass(frozen=True, slots=True)
class LpgFill(AuthRequest):
    """Fill cylinder `barcode` on scale `scale` as the logged-in operator. The reply comes when the fill
    is refused or started (`wait` false) or when it has ended (`wait` true); the fill runs in the daemon
    whatever the client does."""

    TYPE: ClassVar[str] = "lpg.fill"
    barcode: str = ""
    scale: str = ""
    wait: bool = True


@dataclass(frozen=True, slots=True)
class LpgCustomer(AuthRequest):
    """Look a customer up by ID number or customer card number (the ID number masked unless the role
    may read it; a full read is audited)."""

    TYPE: ClassVar[str] = "lpg.customer"
    key: str = ""


@dataclass(frozen=True, slots=True)
class LpgHandout(AuthRequest):
    """Hand full cylinders out to a customer (refused whole when any cylinder is unfit)."""

    TYPE: ClassVar[str] = "lpg.handout"
    customer_id: int = 0
    barcodes: tuple[str, ...] = ()
    deposit_cents: int = 0


@dataclass(frozen=True, slots=True)
class LpgReturn(AuthRequest):
    """Take cylinders back from the customer they were handed to; `residual_kg` by barcode (optional)."""

    TYPE: ClassVar[str] = "lpg.return"
    customer_id: int = 0
    barcodes: tuple[str, ...] = ()
    residual_kg: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LpgStore(AuthRequest):
    """The cylinder store: counts by state and specification."""

    TYPE: ClassVar[str] = "lpg.store"


@dataclass(frozen=True, slots=True)
class LpgFillResult(Reply):
    """`status`: refused (`reason`, `code`), filling (started, not waited for), done, overfilled, interrupted."""

    TYPE: ClassVar[str] = "lpg_fill"
    status: str = ""
    barcode: str = ""
    scale: str = ""
    reason: str = ""
    code: str = ""
    fill_id: int | None = None
    tare_kg: float | None = None
    target_kg: float | None = None
    gross_kg: float | None = None
    net_kg: float | None = None
    operator: str = ""


@dataclass(frozen=True, slots=True)
class LpgCustomerView(Reply):
    TYPE: ClassVar[str] = "lpg_customer"
    customer_id: int = 0
    name: str = ""
    id_number: str = ""
    """Masked (`110101********1234`) unless the role may read it in full."""
    kind: str = ""
    phone: str = ""
    gas_address: str = ""
    last_safety_check: str = ""
    warning: str = ""
    """The customer's safety inspection overdue (with the days) or missing; '' when in order."""
    cylinders_out: tuple[str, ...] = ()
    """The cylinders this customer holds now."""


@dataclass(frozen=True, slots=True)
class LpgReceipt(Reply):
    TYPE: ClassVar[str] = "lpg_receipt"
    receipt: str = ""
    customer_id: int = 0
    direction: str = ""
    """`out` (hand-out) or `in` (return)."""
    barcodes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    net_kg: float = 0.0
    residual_kg: float = 0.0
    deposit_cents: int = 0


@dataclass(frozen=True, slots=True)
class LpgStoreRow:
    state: str
    spec: str
    count: int


@dataclass(frozen=True, slots=True)
class LpgStoreView(Reply):
    TYPE: ClassVar[str] = "lpg_store"
    rows: tuple[LpgStoreRow, ...] = ()


EVENT_TYPES: tuple[type[Message], ...] = (
    Hello,
    Nozzle,
    Sale,
    Alarm,
    AlarmAcked,
    AlarmCleared,
    LineStats,
    Trace,
    DispenserStatus,
    DispenserFault,
    Decision,
    Shift,
    Device,
    Bye,
)
REPLY_TYPES: tuple[type[Reply], ...] = (
    Snapshot,
    Ok,
    Error,
    LoginOk,
    LoginChallenge,
    Report,
    PeriodReport,
    DayClosed,
    Shifts,
    Operators,
    Audit,
    Totals,
    DeskResult,
    LpgFillResult,
    LpgCustomerView,
    LpgReceipt,
    LpgStoreView,
)
REQUEST_TYPES: tuple[type[Request], ...] = (
    Subscribe,
    GetSnapshot,
    Ping,
    Login,
    LoginCard,
    DemoLogin,
    Logout,
    WhoAmI,
    AckAlarm,
    ReadTotals,
    OpenShift,
    CloseShift,
    GetReport,
    GetPeriodReport,
    CloseDay,
    ListShifts,
    ListOperators,
    AddOperator,
    SetPassword,
    LockOperator,
    UnlockOperator,
    GetAudit,
    *DESK_REQUESTS,
    LpgFill,
    LpgCustomer,
    LpgHandout,
    LpgReturn,
    LpgStore,
)
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in (*EVENT_TYPES, *REPLY_TYPES, *REQUEST_TYPES)
}
assert len(MESSAGE_TYPES) == len(EVENT_TYPES) + len(REPLY_TYPES) + len(REQUEST_TYPES), "duplicate TYPE"


# --- the codec ------------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A message or structure as plain JSON values (no `v`/`type`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, StrEnum):
        return value.value
    return value


def encode(message: Message) -> bytes:
    """One wire line (with the trailing newline)."""
    body = {"v": PROTOCOL_VERSION, "type": message.TYPE, **to_json(message)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def decode(line: bytes | str) -> Message:
    """Parse one wire line; raises `BadMessage` (or a leaf) for anything that is not a valid message."""
    if len(line) > MAX_LINE_BYTES:
        raise BadMessage("line too long", line[:200])
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not JSON ({exc})", line) from exc
    except RecursionError as exc:
        raise BadMessage("JSON nested too deeply", line[:200]) from exc
    if not isinstance(doc, dict):
        raise BadMessage("not a JSON object", line)
    version = doc.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadMessage("missing or invalid protocol version 'v'", line)
    if version > PROTOCOL_VERSION:
        raise UnsupportedVersion(version, line)
    type_name = doc.get("type")
    if not isinstance(type_name, str):
        raise BadMessage("missing message 'type'", line)
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        raise UnknownMessageType(type_name, line)
    try:
        return from_json(cls, doc)
    except _Invalid as exc:
        raise BadMessage(f"{type_name}: {exc}", line) from exc
    except RecursionError as exc:
        raise BadMessage(f"{type_name}: nested too deeply", line[:200]) from exc


class _Invalid(ValueError):
    pass


T = TypeVar("T")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def from_json(cls: type[T], doc: Any) -> T:
    """Build dataclass `cls` from plain JSON values (checking every type); raises `ValueError`."""
    if not isinstance(doc, dict):
        raise _Invalid(f"{cls.__name__} must be an object")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in doc:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Invalid(f"missing field {f.name!r}")
            continue
        kwargs[f.name] = _convert(hints[f.name], doc[f.name], f.name)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        problems = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except _Invalid as exc:
                problems.append(str(exc))
        raise _Invalid("; ".join(problems) or f"{where}: must not be null")
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise _Invalid(f"{where}: must be an array")
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float | str | bool) or v is None for v in value.values()
        ):
            raise _Invalid(f"{where}: must be an object of scalars")
        return dict(value)
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(value)
        except ValueError:
            raise _Invalid(f"{where}: {value!r} is not one of {[m.value for m in hint]}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise _Invalid(f"{where}: must be true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(f"{where}: must be an integer")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _Invalid(f"{where}: must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _Invalid(f"{where}: must be a string")
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_json(hint, value)
    raise _Invalid(f"{where}: unsupported field type {hint!r}")  # pragma: no cover - a coding error


def reply_to(request: Request, reply: Reply) -> Reply:
    """`reply` with `re` set to the request's id."""
    return dataclasses.replace(reply, re=request.id)


# --- display helpers shared by every client -------------------------------------------------------

def mask_card(asn: str, visible: int = 4) -> str:
    """A card number for screens: only the last `visible` digits (`…3456`); empty stays empty."""
    digits = asn.strip()
    if not digits or set(digits) == {"0"}:
        return ""
    return "…" + digits[-visible:] if len(digits) > visible else digits
