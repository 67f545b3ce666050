"""Operators: scrypt hashes, login, lockout after three failures, the employee-card second factor,
the demo login, sessions; every attempt in the audit log."""

from __future__ import annotations

import datetime as dt

import pytest
from control_testkit import EMPLOYEE_ASN, FAST, add_operator

from edge.auth import passwords
from edge.auth.service import AuthService
from edge.control import messages as m
from edge.control.server import ControlServer
from edge.daemon import Station
from edge.events import CardPresented
from storage.audit import AuditLog
from storage.operators import OperatorStore


def test_scrypt_hash_format_and_check() -> None:
    stored = passwords.hash_password("correct horse", FAST)
    kind, log2_n, r, p, _salt, _key = stored.split("$")
    assert (kind, log2_n, r, p) == ("scrypt", "4", "8", "1")
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct horsE", stored)
    assert passwords.hash_password("correct horse", FAST) != stored  # a new salt every time
    assert passwords.ScryptParams(14, 8, 1) == passwords.DEFAULT_PARAMS
    for broken in ("", "!disabled", "scrypt$4$8$1$***$***", "scrypt$99$8$1$AAAA$AAAA", stored[:-8]):
        assert not passwords.verify_password("correct horse", broken)


def test_default_parameters_verify() -> None:
    stored = passwords.hash_password("pässwörd")
    assert passwords.verify_password("pässwörd", stored)


async def test_login_gives_a_session_with_the_role_permissions(
    server: ControlServer, operators, connect
) -> None:
    client = await connect()
    reply = await client.request(m.Login(username="operator1", password="pw-operator-1"))
    assert isinstance(reply, m.LoginOk)
    assert reply.operator.username == "operator1" and reply.operator.role is m.Role.OPERATOR
    assert "ack_alarm" in reply.permissions and "add_operator" not in reply.permissions
    assert isinstance(await client.request(m.WhoAmI(token=reply.token)), m.LoginOk)
    assert isinstance(await client.request(m.Logout(token=reply.token)), m.Ok)
    after = await client.request(m.WhoAmI(token=reply.token))
    assert isinstance(after, m.Error) and after.code == m.ErrorCode.UNAUTHENTICATED
    actions = [(r.action, r.outcome.value) for r in await AuditLog(server.station.db).recent()]
    assert actions[:2] == [("logout", "ok"), ("login", "ok")]


async def test_three_wrong_passwords_lock_the_operator(server: ControlServer, operators, connect) -> None:
    client = await connect()
    codes = []
    for _ in range(3):
        reply = await client.request(m.Login(username="operator1", password="wrong-password"))
        assert isinstance(reply, m.Error)
        codes.append(reply.code)
    assert codes == [m.ErrorCode.BAD_CREDENTIALS, m.ErrorCode.BAD_CREDENTIALS, m.ErrorCode.LOCKED]
    right = await client.request(m.Login(username="operator1", password="pw-operator-1"))
    assert isinstance(right, m.Error) and right.code == m.ErrorCode.LOCKED
    row = await OperatorStore(server.station.db).get("operator1")
    assert row is not None and row.locked and row.failed_logins == 3

    audit = await AuditLog(server.station.db).recent()
    assert [(r.action, r.outcome.value, r.target) for r in audit[:3]] == [
        ("login", "refused", ""),
        ("lock_operator", "ok", "operator1"),
        ("login", "failed", ""),
    ]

    senior = await client.request(m.Login(username="senior1", password="pw-senior-1"))
    assert isinstance(senior, m.LoginOk)
    assert isinstance(await client.request(m.UnlockOperator(token=senior.token, username="operator1")), m.Ok)
    assert isinstance(
        await client.request(m.Login(username="operator1", password="pw-operator-1")), m.LoginOk
    )


async def test_a_success_resets_the_failure_count(server: ControlServer, operators, connect) -> None:
    client = await connect()
    for _ in range(2):
        await client.request(m.Login(username="operator1", password="nope-nope"))
    assert isinstance(
        await client.request(m.Login(username="operator1", password="pw-operator-1")), m.LoginOk
    )
    for _ in range(2):
        await client.request(m.Login(username="operator1", password="nope-nope"))
    row = await OperatorStore(server.station.db).get("operator1")
    assert row is not None and not row.locked and row.failed_logins == 2


async def test_unknown_user_is_refused_like_a_wrong_password(
    server: ControlServer, operators, connect
) -> None:
    client = await connect()
    reply = await client.request(m.Login(username="mallory", password="whatever1"))
    assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.BAD_CREDENTIALS
    assert reply.message == "wrong user name or password"
    (row,) = await AuditLog(server.station.db).recent(1)
    assert (row.actor, row.action, row.outcome.value) == ("mallory", "login", "refused")


async def test_card_second_factor_typed(server: ControlServer, station: Station, connect) -> None:
    await add_operator(station, "ana", m.Role.OPERATOR, "secret-1", card=EMPLOYEE_ASN)
    client = await connect()
    login = client.send(m.Login(username="ana", password="secret-1"))
    challenge = await client.reply(login.id)
    assert isinstance(challenge, m.LoginChallenge) and challenge.seconds > 0

    wrong = await client.request(m.LoginCard(challenge=challenge.challenge, asn="10000411000000009999"))
    assert isinstance(wrong, m.Error) and wrong.code == m.ErrorCode.BAD_CARD
    right = await client.request(m.LoginCard(challenge=challenge.challenge, asn=EMPLOYEE_ASN))
    assert isinstance(right, m.Ok)
    final = await client.reply(login.id)
    assert isinstance(final, m.LoginOk) and final.operator.has_card
    row = await OperatorStore(station.db).get("ana")
    assert row is not None and row.failed_logins == 0


async def test_card_second_factor_presented_at_a_nozzle(
    server: ControlServer, station: Station, connect
) -> None:
    await add_operator(station, "ana", m.Role.OPERATOR, "secret-1", card=EMPLOYEE_ASN)
    client = await connect()
    login = client.send(m.Login(username="ana", password="secret-1"))
    assert isinstance(await client.reply(login.id), m.LoginChallenge)
    station.bus.publish(CardPresented("bus1", 1, 1, "10000111000000012345", 0, dt.datetime.now()))  # not hers
    station.bus.publish(CardPresented("bus1", 1, 2, EMPLOYEE_ASN, 0, dt.datetime.now()))
    final = await client.reply(login.id)
    assert isinstance(final, m.LoginOk) and final.operator.username == "ana"
    (row,) = await AuditLog(station.db).recent(1)
    assert row.details == {"how": "password + card at a nozzle"}


async def test_card_presented_just_before_the_password_counts(station: Station, short_dir) -> None:
    await add_operator(station, "ana", m.Role.OPERATOR, "secret-1", card=EMPLOYEE_ASN)
    auth = AuthService(station.db)
    await auth.card_presented(EMPLOYEE_ASN)
    session = await auth.login("ana", "secret-1")
    assert not hasattr(session, "future") and session.username == "ana"


async def test_second_factor_times_out(station: Station) -> None:
    await add_operator(station, "ana", m.Role.OPERATOR, "secret-1", card=EMPLOYEE_ASN)
    now = [100.0]
    auth = AuthService(station.db, monotonic=lambda: now[0], card_window_s=30)
    challenge = await auth.login("ana", "secret-1")
    assert not isinstance(challenge, type(None)) and hasattr(challenge, "future")
    now[0] += 31  # the window has passed: the wait ends at once
    from edge.auth.service import Challenge, LoginRefused

    assert isinstance(challenge, Challenge)
    with pytest.raises(LoginRefused) as refused:
        await auth.wait_card(challenge)
    assert refused.value.code == m.ErrorCode.CARD_TIMEOUT
    with pytest.raises(LoginRefused):
        await auth.answer_card(challenge.id, EMPLOYEE_ASN)


async def test_sessions_expire_when_idle(station: Station, operators) -> None:
    now = [0.0]
    auth = AuthService(station.db, monotonic=lambda: now[0], session_idle_s=600)
    session = await auth.login("operator1", "pw-operator-1")
    token = getattr(session, "token", "")
    now[0] += 599
    assert auth.session(token) is not None
    now[0] += 599
    assert auth.session(token) is not None  # touched: idle time counts from the last use
    now[0] += 601
    assert auth.session(token) is None


async def test_demo_login_refused_on_a_real_station(server: ControlServer, connect) -> None:
    client = await connect()
    assert client.hello.demo is False
    reply = await client.request(m.DemoLogin())
    assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.DEMO_DISABLED
    assert await OperatorStore(server.station.db).get("demo") is None


@pytest.mark.parametrize("server_options", [{"demo": True}])
async def test_demo_login_on_a_demo_station(server: ControlServer, connect) -> None:
    client = await connect()
    assert client.hello.demo is True
    reply = await client.request(m.DemoLogin())
    assert isinstance(reply, m.LoginOk) and reply.demo and reply.operator.demo
    assert reply.operator.username == "demo" and reply.operator.role is m.Role.SENIOR
    again = await client.request(m.DemoLogin())
    assert isinstance(again, m.LoginOk)
    password = await client.request(m.Login(username="demo", password=""))
    assert isinstance(password, m.Error)  # the demo operator has no password


async def test_locking_an_operator_ends_their_sessions(server: ControlServer, operators, connect) -> None:
    client = await connect()
    admin = await client.request(m.Login(username="admin1", password="pw-admin-1"))
    op = await client.request(m.Login(username="operator1", password="pw-operator-1"))
    assert isinstance(admin, m.LoginOk) and isinstance(op, m.LoginOk)
    assert isinstance(await client.request(m.LockOperator(token=admin.token, username="operator1")), m.Ok)
    gone = await client.request(m.WhoAmI(token=op.token))
    assert isinstance(gone, m.Error) and gone.code == m.ErrorCode.UNAUTHENTICATED


async def test_own_password_change_needs_the_old_one(server: ControlServer, operators, connect) -> None:
    client = await connect()
    op = await client.request(m.Login(username="operator1", password="pw-operator-1"))
    assert isinstance(op, m.LoginOk)
    bad = await client.request(
        m.SetPassword(token=op.token, old_password="guess-1", new_password="new-secret")
    )
    assert isinstance(bad, m.Error) and bad.code == m.ErrorCode.BAD_CREDENTIALS
    short = await client.request(
        m.SetPassword(token=op.token, old_password="pw-operator-1", new_password="x")
    )
    assert isinstance(short, m.Error) and short.code == m.ErrorCode.BAD_REQUEST
    ok = await client.request(
        m.SetPassword(token=op.token, old_password="pw-operator-1", new_password="new-secret")
    )
    assert isinstance(ok, m.Ok)
    assert isinstance(await client.request(m.Login(username="operator1", password="new-secret")), m.LoginOk)


async def test_a_lock_made_outside_the_daemon_ends_the_session(
    server: ControlServer, station: Station, operators, connect
) -> None:
    from storage import operators as ops
    from storage.clock import utc_now

    client = await connect()
    op = await client.request(m.Login(username="operator1", password="pw-operator-1"))
    assert isinstance(op, m.LoginOk)
    async with station.db.transaction() as tx:  # as `station operators lock operator1` would
        await ops.lock_in(tx, "operator1", "by the CLI", now=utc_now())
    reply = await client.request(m.AckAlarm(token=op.token, alarm_id=1))
    assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.UNAUTHENTICATED
