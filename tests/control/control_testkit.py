"""Helpers of the control API tests: a small station configuration, records, waiting with deadlines."""

from __future__ import annotations

import asyncio
import datetime as dt

from support.records import make_record

from edge.auth import passwords
from edge.control.messages import Role
from edge.control.shifts import ShiftService
from edge.daemon import Station
from edge.events import FrameTraced
from edge.session import DispenserSession
from protocol.messages import NozzleTotal, RecordUpload, Totals, TotalsRead
from protocol.record import TransactionRecord
from storage import operators as ops
from storage.clock import utc_now

CONFIG = """\
[station]
id = "TEST-0001"
name = "Test station"

[storage]
database = "station.db"

[control]
socket = "ctl.sock"
mode = 0o600

[[products]]
g_code = "0092"
name = "92#"
prices = [750]

[[products]]
g_code = "0095"
name = "95#"
prices = [810]

[[lines]]
name = "bus1"
url = "socket://127.0.0.1:9"
mode = "multi-drop"

[[lines.dispensers]]
pos_p = 1
nozzles = [{ nzn = 1, g_code = "0092" }, { nzn = 2, g_code = "0095" }]

[[lines.dispensers]]
pos_p = 2
nozzles = [{ nzn = 3, g_code = "0092" }, { nzn = 4, g_code = "0095" }]
"""

EMPLOYEE_ASN = "10000411000000009001"
VERIFY_ASN = "10000611000000000077"
USER_ASN = "10000111000000012345"

TEMPLATE = TransactionRecord(
    pos_ttc=1, t_type=0x10, time=dt.datetime(2026, 11, 21, 8, 30, 0), asn=USER_ASN, bal=100_000, amn=7_500,
    ctc=7, tac=0x11223344, gmac=0, psam_tac=0, psam_asn="10000000000000000001",
    psam_tid=bytes.fromhex("010203040506"), psam_ttc=1, ds=0, unit=0, c_type=0, ver=0x11, nzn=1,
    g_code="0092", vol=1_000, prc=750, emp=255, v_tot=0,
)  # fmt: skip


def record(pos_ttc: int, **changes: object) -> tuple[TransactionRecord, bytes]:
    return make_record(pos_ttc, template=TEMPLATE, **changes)


async def store(session: DispenserSession, pos_ttc: int, **changes: object) -> TransactionRecord:
    """Play a 0x32 record through the session (journal commit, SaleStored published)."""
    rec, raw = record(pos_ttc, **changes)
    await session.handle(RecordUpload(record=rec), b"\x32" + raw)
    return rec


async def answer_totals(shifts: ShiftService, session: DispenserSession, totals: dict[int, int]) -> None:
    """Play the dispenser: once the shift service asked for the 0x38 totals, answer as the line driver
    would (the answer frame is traced on the bus, which is what wakes the waiting service)."""
    async with asyncio.timeout(30):
        await shifts.totals_requested.wait()
    assert TotalsRead() in session.reads
    session.reads.remove(TotalsRead())
    await session.handle(Totals(totals=tuple(NozzleTotal(n, v) for n, v in sorted(totals.items()))))
    session.services.bus.publish(FrameTraced(session.line, "P", "38", "Totals", dt.datetime.now()))


# --- operators (shared by conftest and the tests) ---------------------------------------------------

FAST = passwords.ScryptParams(log2_n=4, r=8, p=1)
"""Cheap scrypt parameters for test operators (the stored hash carries them; production uses 2^14)."""


def password_of(role: Role) -> str:
    return f"pw-{role.value}-1"


def username_of(role: Role) -> str:
    return f"{role.value}1"


async def add_operator(
    station: Station, username: str, role: Role, password: str, card: str | None = None
) -> None:
    async with station.db.transaction() as tx:
        await ops.add_in(
            tx, username, role.value, passwords.hash_password(password, FAST), now=utc_now(), card_asn=card
        )
