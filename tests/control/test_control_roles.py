"""The permission table: every command refused for the roles that lack it (audited as refused, nothing
changed) and done for those that have it (audited as ok for state changes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from control_testkit import add_operator, password_of, username_of
from station_sim.card.slot import CardSlot

from edge.auth.roles import PERMISSIONS, may_manage
from edge.control import messages as m
from edge.control.client import ControlClient
from edge.control.desk import desk_service
from edge.control.server import ControlServer
from edge.daemon import Station
from edge.devices.desk.cardops import CardOps
from edge.devices.desk.ledger import Actor
from storage import desk as desk_rows
from storage import operators as operator_rows
from storage import shifts
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.greys import RemoteGrey, RemoteGreyStore
from storage.operators import OperatorStore
from tests.support.desk_slot import LocalSlot, fresh_card

DOCS = Path(__file__).resolve().parents[2] / "docs" / "control-api.md"

Prepare = Callable[[Station], Awaitable[m.AuthRequest]]


async def _open_shift(station: Station) -> None:
    async with station.db.transaction() as tx:
        if await shifts.current_in(tx) is None:
            await shifts.open_in(tx, "someone", [], now=utc_now())


async def _close_any_shift(station: Station) -> None:
    async with station.db.transaction() as tx:
        await tx.execute("UPDATE shifts SET closed_at = ? WHERE closed_at IS NULL", (utc_now().isoformat(),))


async def ack_alarm(station: Station) -> m.AuthRequest:
    alarm_id = await station.alarms.raise_alarm("bus1/1", f"code{utc_now().timestamp()}", "warning", "test")
    return m.AckAlarm(alarm_id=alarm_id)


async def read_totals(station: Station) -> m.AuthRequest:
    return m.ReadTotals(line="bus1")


async def open_shift(station: Station) -> m.AuthRequest:
    await _close_any_shift(station)
    return m.OpenShift(note="morning")


async def close_shift(station: Station) -> m.AuthRequest:
    await _open_shift(station)
    return m.CloseShift()


_closed_days = iter(range(1, 10_000))


async def close_day(station: Station) -> m.AuthRequest:
    """A past business day, a new one each time; no shift open, every dispenser answering."""
    await _close_any_shift(station)
    for sessions in station.sessions.values():
        for session in sessions:
            session.online = True
    day = dt.date(2001, 1, 1) + dt.timedelta(days=next(_closed_days))
    return m.CloseDay(day=day.isoformat())


async def get_report(station: Station) -> m.AuthRequest:
    await _open_shift(station)
    return m.GetReport()


async def add_operator_(station: Station) -> m.AuthRequest:
    return m.AddOperator(
        username=f"new{utc_now().timestamp():.0f}", role=m.Role.READONLY, password="secret-9"
    )


async def _victim(station: Station, locked: bool) -> None:
    if await OperatorStore(station.db).get("victim") is None:
        await add_operator(station, "victim", m.Role.READONLY, "secret-9")
    async with station.db.transaction() as tx:
        if locked:
            await operator_rows.lock_in(tx, "victim", "test", now=utc_now())
        else:
            await operator_rows.unlock_in(tx, "victim")


async def lock_operator(station: Station) -> m.AuthRequest:
    await _victim(station, locked=False)
    return m.LockOperator(username="victim", reason="test")


async def unlock_operator(station: Station) -> m.AuthRequest:
    await _victim(station, locked=True)
    return m.UnlockOperator(username="victim")


# --- the desk: a virtual card in an in-process reader (tests/support/desk_slot.py) --------------------

_asns = iter(range(1, 100_000))


def _reader(station: Station) -> LocalSlot:
    service = desk_service(station)
    if service.cards is None:
        service.cards = CardOps(service, LocalSlot(CardSlot()), station.services.authority)  # type: ignore[arg-type]
    reader = service.cards.slot  # type: ignore[attr-defined]
    assert isinstance(reader, LocalSlot)
    return reader


def _asn() -> str:
    return f"1000010120{next(_asns):010d}"


def desk_card(request: m.AuthRequest, kind: str = "user", **keys: object) -> Prepare:
    async def prepare(station: Station) -> m.AuthRequest:
        _reader(station).put(fresh_card(kind, **keys))
        return request

    return prepare


async def desk_unlock(station: Station) -> m.AuthRequest:
    locked = dt.datetime.now().replace(microsecond=0) - dt.timedelta(minutes=1)
    card = _reader(station).put(
        fresh_card(
            balance=5000,
            grey=f'{{ terminal = "000000000009", serial = 7, locked_at = {locked.isoformat()} }}',
        )
    )
    access = await _reader(station).open()
    await access.read_issuer()
    grey = await access.read_grey()
    assert grey.locked_at is not None
    place = station.services.authority.station  # type: ignore[attr-defined]
    await RemoteGreyStore(station.db).replace_all([
        RemoteGrey(asn=card.state.asn, bal=grey.balance, ctc=grey.offline_counter, ds=0, time=grey.locked_at,
                   amn=100, gmac=0, psam_tid=bytes(6), psam_ttc=1, station_id=place.station_id,
                   province=place.province, dispenser=3),
    ])  # fmt: skip
    return m.DeskUnlock()


async def desk_issue(station: Station) -> m.AuthRequest:
    done = await desk_service(station).register(Actor("setup", "admin"), name="Li Lei")
    _reader(station).put(fresh_card(issued=False))
    return m.DeskIssue(customer_id=done.customer_id)


async def desk_replace(station: Station) -> m.AuthRequest:
    old = _asn()
    async with station.db.transaction() as tx:
        await desk_rows.put_card_in(tx, desk_rows.CardRow(old, "user"), actor="setup", now=utc_now())
        await desk_rows.note_balance_in(tx, old, 300, now=utc_now())
        await desk_rows.set_status_in(tx, old, "lost", actor="setup", now=utc_now())
    _reader(station).put(fresh_card(issued=False))
    return m.DeskReplace(old_asn=old)


async def desk_status(station: Station, request: type[m.AuthRequest], first: str = "") -> m.AuthRequest:
    asn = _asn()
    if first:
        await desk_service(station).set_status(Actor("setup", "admin"), first, asn)
    return request(asn=asn)  # type: ignore[call-arg]


async def desk_lost(station: Station) -> m.AuthRequest:
    return await desk_status(station, m.DeskLost)


async def desk_cancel(station: Station) -> m.AuthRequest:
    return await desk_status(station, m.DeskCancel)


async def desk_reinstate(station: Station) -> m.AuthRequest:
    return await desk_status(station, m.DeskReinstate, "lost")


async def desk_register(station: Station) -> m.AuthRequest:
    return m.DeskRegister(name="Han Meimei", plate=f"京D{next(_asns):05d}", cylinder_valid_until="2028-01-01")


def simple(request: m.AuthRequest) -> Prepare:
    async def prepare(station: Station) -> m.AuthRequest:
        return request

    return prepare


COMMANDS: dict[str, Prepare] = {
    "whoami": simple(m.WhoAmI()),
    "set_password": simple(m.SetPassword(old_password="", new_password="changed-1")),
    "get_report": get_report,
    "list_shifts": simple(m.ListShifts()),
    "ack_alarm": ack_alarm,
    "read_totals": read_totals,
    "open_shift": open_shift,
    "close_shift": close_shift,
    "close_day": close_day,
    "get_period_report": simple(m.GetPeriodReport(kind="month", value="2026-11")),
    "list_operators": simple(m.ListOperators()),
    "unlock_operator": unlock_operator,
    "get_audit": simple(m.GetAudit()),
    "lock_operator": lock_operator,
    "add_operator": add_operator_,
    "desk.read": desk_card(m.DeskRead()),
    "desk.operations": simple(m.DeskOperations()),
    "desk.pin": desk_card(m.DeskPin(pin="123456")),
    "desk.topup": desk_card(m.DeskTopup(amount=1_000, payment="cash")),
    "desk.unlock": desk_unlock,
    "desk.lost": desk_lost,
    "desk.register": desk_register,
    "desk.issue": desk_issue,
    "desk.replace": desk_replace,
    "desk.cancel": desk_cancel,
    "desk.reinstate": desk_reinstate,
    "desk.cylinder": desk_card(m.DeskCylinder(valid_until="2031-01-31"), "cng"),
    "desk.clear": desk_card(
        m.DeskClear(),
        "cng",
        vehicle="{ cylinder_valid_until = 2030-01-01, consumption_mode = 2 }",
        credit="{ credit_line = 100000 }",
    ),
    "logout": simple(m.Logout()),  # last: it ends the session
}
STATE_CHANGING = {
    "set_password", "ack_alarm", "read_totals", "open_shift", "close_shift", "close_day", "unlock_operator",
    "lock_operator", "add_operator", "logout", *(c for c in PERMISSIONS if c.startswith("desk.") and c != "desk.operations"),
}  # fmt: skip


DEVICE_COMMANDS = {"lpg.fill", "lpg.customer", "lpg.handout", "lpg.return", "lpg.store"}
"""Served by the LPG component where `[lpg]` is configured: tested with it (tests/edge/lpg)."""


def test_every_authenticated_request_is_in_the_table_and_tested() -> None:
    auth_types = {cls.TYPE for cls in m.REQUEST_TYPES if issubclass(cls, m.AuthRequest)}
    assert auth_types == set(PERMISSIONS) == set(COMMANDS) | DEVICE_COMMANDS


def test_docs_reproduce_the_permission_table() -> None:
    doc = DOCS.read_text()
    start = doc.index("| command | vendor | admin | senior | operator | readonly |")
    text = doc[start : doc.index("\n\n", start)]
    roles = [r.value for r in m.Role]
    for command, allowed in PERMISSIONS.items():
        row = re.search(rf"^\|\s*`{command}`\s*\|(.*)\|\s*$", text, re.MULTILINE)
        assert row, f"{command} is missing from the permission table in {DOCS.name}"
        cells = [c.strip() for c in row.group(1).split("|")][: len(roles)]
        documented = {role for role, cell in zip(roles, cells, strict=True) if cell == "✓"}
        assert documented == {r.value for r in allowed}, command


@pytest.mark.parametrize("role", list(m.Role))
async def test_each_command_refused_or_done_and_audited(
    role: m.Role,
    server: ControlServer,
    station: Station,
    operators,
    connect: Callable[[], Awaitable[ControlClient]],
) -> None:
    client = await connect()
    audit = AuditLog(station.db)
    login = await client.request(m.Login(username=username_of(role), password=password_of(role)))
    assert isinstance(login, m.LoginOk)
    assert set(login.permissions) == {c for c, roles in PERMISSIONS.items() if role in roles}
    for command, prepare in COMMANDS.items():
        request = await prepare(station)
        if command == "set_password":
            request = m.SetPassword(old_password=password_of(role), new_password=f"changed-{role.value}")
        before = await audit.recent(1)
        snapshot = await _state(station)
        reply = await client.request(dataclasses.replace(request, token=login.token))
        new_rows = [r for r in await audit.recent(10) if not before or r.id > before[0].id]
        if role in PERMISSIONS[command]:
            assert not (isinstance(reply, m.Error) and reply.code == m.ErrorCode.FORBIDDEN), (
                role,
                command,
                reply,
            )
            assert not isinstance(reply, m.Error), (role, command, reply)
            if command in STATE_CHANGING:
                assert [(r.action, r.outcome.value, r.actor) for r in new_rows] == [
                    (command, "ok", username_of(role))
                ], (role, command, reply)
            else:
                assert new_rows == [], (role, command)
        else:
            assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.FORBIDDEN, (role, command, reply)
            assert [(r.action, r.outcome.value) for r in new_rows] == [(command, "refused")], (role, command)
            assert await _state(station) == snapshot, (role, command)


async def _state(station: Station) -> tuple[object, ...]:
    """Everything a refused command could have changed."""
    ops = [(o.username, o.role, o.locked, o.password_hash) for o in await OperatorStore(station.db).all()]
    alarms = [(a.id, a.acknowledged_by) for a in await station.alarms.active()]
    shift_rows = [(s.id, s.closed_at) for s in await shifts.ShiftStore(station.db).recent(100)]
    desk_ops = [(o.op_key, o.state) for o in await desk_rows.operations(station.db, limit=1000)]
    return (ops, alarms, shift_rows, desk_ops)


@pytest.mark.parametrize(
    ("actor", "target", "expected"),
    [
        (m.Role.SENIOR, m.Role.OPERATOR, True),
        (m.Role.SENIOR, m.Role.SENIOR, False),
        (m.Role.SENIOR, m.Role.ADMIN, False),
        (m.Role.ADMIN, m.Role.ADMIN, True),
        (m.Role.ADMIN, m.Role.VENDOR, False),
        (m.Role.VENDOR, m.Role.ADMIN, True),
        (m.Role.OPERATOR, m.Role.READONLY, True),
    ],
)
def test_manage_rule(actor: m.Role, target: m.Role, expected: bool) -> None:
    assert may_manage(actor, target) is expected


async def test_senior_cannot_unlock_an_admin_and_the_refusal_is_audited(
    server: ControlServer, station: Station, operators, connect
) -> None:
    client = await connect()
    senior = await client.request(m.Login(username="senior1", password="pw-senior-1"))
    assert isinstance(senior, m.LoginOk)
    reply = await client.request(m.UnlockOperator(token=senior.token, username="admin1"))
    assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.FORBIDDEN
    (row,) = await AuditLog(station.db).recent(1)
    assert (row.action, row.outcome.value, row.actor) == ("unlock_operator", "refused", "senior1")


async def test_admin_cannot_create_a_vendor(
    server: ControlServer, station: Station, operators, connect
) -> None:
    client = await connect()
    admin = await client.request(m.Login(username="admin1", password="pw-admin-1"))
    assert isinstance(admin, m.LoginOk)
    reply = await client.request(
        m.AddOperator(token=admin.token, username="vendor2", role=m.Role.VENDOR, password="secret-99")
    )
    assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.FORBIDDEN
    assert await OperatorStore(station.db).get("vendor2") is None


async def test_device_commands_at_a_station_without_that_device(
    server: ControlServer, operators, connect: Callable[[], Awaitable[ControlClient]]
) -> None:
    client = await connect()
    login = await client.request(m.Login(username=username_of(m.Role.OPERATOR), password=password_of(m.Role.OPERATOR)))
    assert isinstance(login, m.LoginOk)
    reply = await client.request(m.LpgStore(token=login.token))
    assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.NOT_FOUND and "lpg.store" in reply.message
