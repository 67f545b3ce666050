"""Desk operations on the virtual card through the card access API (in-process reader, real database)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from station_sim.card.slot import TearMode, TearPlan

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desk_testkit import ANN, BOSS, DeskRig, topup

from edge.control import messages as m
from edge.devices.desk.service import DeskError
from protocol.card.files import IssueState
from storage import desk as store
from storage.audit import AuditLog
from storage.db import Database
from storage.greys import RemoteGrey
from storage.outbox import Outbox
from uplink import payloads


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


async def test_read_shows_the_card_and_is_recorded(db: Database) -> None:
    rig = DeskRig(db)
    op, _words, view = await rig.run(m.DeskRead())
    assert view["asn"] == "10000101100000000017" and view["balance"] == 50_000
    assert view["kind"] == "cng" and view["plate"] == "京A12345"
    assert view["cylinder_valid_until"] == "2026-01-20" and view["cylinder_days_left"] == 6
    assert view["status"] == "normal" and view["grey"] == {"grey": False}
    assert op.kind == "read" and op.state.value == "done"
    [audit] = await AuditLog(db).recent(5)
    assert (audit.action, audit.actor, audit.target) == ("desk.read", "ann", "card 10000101100000000017")
    assert await rig.messages() == [f"desk:DEMO-0001:{op.op_key}:done"]


async def test_topup_loads_once_and_tells_the_centre(db: Database) -> None:
    rig = DeskRig(db)
    op, _words, view = await rig.run(topup(20_000, "wechat"))
    assert (op.state.value, op.amount, op.payment) == ("confirmed", 20_000, "wechat")
    assert rig.card.state.ep.balance == 70_000 and view["balance"] == 70_000
    assert (op.balance_before, op.balance_after, op.counter_before) == (50_000, 70_000, 0)
    [(_, msg)] = [(s, x) for s, x in await Outbox(db).peek(10) if x.key.endswith(":confirmed")]
    decoded = payloads.decode(msg.payload)
    assert isinstance(decoded, payloads.DeskPayload) and decoded.op == "topup" and decoded.amount == 20_000
    assert [a.action for a in await AuditLog(db).recent(5)] == ["desk.topup"]


async def test_a_card_reported_lost_cannot_be_topped_up(db: Database) -> None:
    rig = DeskRig(db)
    await rig.service.set_status(ANN, "lost", "10000101100000000017", reason="stolen")
    with pytest.raises(DeskError, match="lost"):
        await rig.run(topup(100))
    assert rig.card.state.ep.balance == 50_000


async def test_bad_input_is_refused_with_clear_errors_and_nothing_loaded(db: Database) -> None:
    rig = DeskRig(db)
    with pytest.raises(DeskError) as err:
        await rig.run(topup(0))
    assert err.value.code == "bad_request"
    rig.swap("bank")
    with pytest.raises(DeskError) as err:
        await rig.run(m.DeskRead())
    assert err.value.code == "bad_card" and "not a fuel card" in err.value.message
    rig.swap("garbage")
    with pytest.raises(DeskError) as err:
        await rig.run(topup(100))
    assert err.value.code == "bad_card" and "EF16" in err.value.message
    rig.slot.remove()
    with pytest.raises(DeskError) as err:
        await rig.run(m.DeskRead())
    assert err.value.code == "not_found"
    rig.swap("taxi")
    rig.reader.channel.unplug()
    with pytest.raises(DeskError) as err:
        await rig.run(topup(100))
    assert err.value.code == "not_found" and "gone" in err.value.message
    assert rig.card.state.ep.balance == 50_000
    assert await store.open_operations(db) == []
    rig.reader = type(rig.reader)(rig.slot)
    rig.ops.slot = rig.reader
    with pytest.raises(DeskError) as err:  # another card than the one the operator meant
        await rig.run(m.DeskTopup(amount=5, asn="10000101100000000099"))
    assert err.value.code == "conflict" and "not 10000101100000000099" in err.value.message
    with pytest.raises(DeskError) as err:
        await rig.run(m.DeskTopup(amount=5, asn="12AB"))
    assert err.value.code == "bad_request"
    assert rig.card.state.ep.balance == 50_000


async def test_pin_verify_change_and_a_locked_pin(db: Database) -> None:
    rig = DeskRig(db)
    _op, words, _ = await rig.run(m.DeskPin(pin="123456"))
    assert words == "PIN correct"
    with pytest.raises(DeskError, match="2 tries left"):
        await rig.run(m.DeskPin(pin="000000"))
    _op, words, _ = await rig.run(m.DeskPin(pin="123456", new_pin="654321"))
    assert words == "PIN changed"
    rig.swap("locked_pin")
    _op, words, view = await rig.run(m.DeskRead())
    assert view["pin_locked"] and "issuing outlet" in words
    with pytest.raises(DeskError, match="issuing outlet"):
        await rig.run(m.DeskPin(pin="123456"))


async def grey_record(rig: DeskRig, amount: int, station: str = "00000042", province: int = 0x11) -> None:
    access = await rig.reader.open()
    await access.read_issuer()
    grey = await access.read_grey()
    assert grey.locked_at is not None
    await rig.rules.remote.replace_all([
        RemoteGrey(asn=rig.card.state.asn, bal=grey.balance, ctc=grey.offline_counter, ds=0, time=grey.locked_at,
                   amn=amount, gmac=0, psam_tid=bytes(6), psam_ttc=1, station_id=station, province=province,
                   dispenser=3),
    ])  # fmt: skip


async def test_grey_unlock_at_the_desk_under_the_pumps_rules(db: Database) -> None:
    rig = DeskRig(db, "grey")
    _op, _words, view = await rig.run(m.DeskRead())
    assert view["grey"]["grey"] and view["grey"]["record"] is False and not view["grey"]["may_unlock"]
    with pytest.raises(DeskError, match="grey record"):
        await rig.run(m.DeskUnlock())
    # locked at another station of the province this morning: two working days to wait
    await grey_record(rig, 1_500, station="00000099")
    _op, _words, view = await rig.run(m.DeskRead())
    assert view["grey"]["may_unlock"] is False and view["grey"]["reason"] == "GREY_WAIT_DELAY"
    with pytest.raises(DeskError, match="may not be unlocked"):
        await rig.run(m.DeskUnlock())
    rig.rules.clock.now += dt.timedelta(days=5)  # Monday: Thursday and Friday are over
    op, _words, view = await rig.run(m.DeskUnlock())
    assert op.state.value == "confirmed" and op.amount == 1_500
    assert rig.card.state.ep.balance == 80_000 - 1_500 and view["grey"]["grey"] is False


async def test_issue_and_replace_move_the_balance_once(db: Database) -> None:
    rig = DeskRig(db)
    done = await rig.service.register(BOSS, name="Wang Fang", plate="京B88888",
                                      cylinder_valid_until=dt.date(2027, 3, 1))  # fmt: skip
    await rig.run(m.DeskRead())  # the desk knows the taxi card's balance: 50 000
    rig.swap("blank")
    op, _words, view = await rig.run(m.DeskIssue(customer_id=done.customer_id, plate="京B88888"), BOSS)
    assert op.kind == "issue" and view["issued"] and view["holder"] == "Wang Fang"
    assert view["plate"] == "京B88888" and view["cylinder_valid_until"] == "2027-03-01"
    # the taxi card is lost; the new blank card... is the one just issued: use it as the replacement
    await rig.service.set_status(ANN, "lost", "10000101100000000017")
    op, _words, view = await rig.run(m.DeskReplace(old_asn="10000101100000000017"), BOSS)
    assert (op.kind, op.state.value, op.amount) == ("replace", "confirmed", 50_000)
    assert rig.card.state.ep.balance == 50_000
    old = await store.card(db, "10000101100000000017")
    assert old is not None and (old.status, old.replaced_by) == ("replaced", "10000101100000000019")
    with pytest.raises(DeskError, match="already replaced"):
        await rig.run(m.DeskReplace(old_asn="10000101100000000017"), BOSS)
    assert rig.card.state.ep.balance == 50_000
    assert rig.service.statuses.status("10000101100000000017").value == "replaced"


async def test_cylinder_date_changed_on_the_card(db: Database) -> None:
    rig = DeskRig(db)
    op, _words, view = await rig.run(m.DeskCylinder(valid_until="2028-01-31"), BOSS)
    assert view["cylinder_valid_until"] == "2028-01-31" and op.details["previous"] == dt.date(2026, 1, 20)
    with pytest.raises(DeskError):
        await rig.run(m.DeskCylinder(valid_until="2020-01-01"), BOSS)


async def test_a_card_whose_balance_was_never_known_is_not_replaced(db: Database) -> None:
    rig = DeskRig(db)
    await rig.service.set_status(ANN, "lost", "10000101100000000099")
    rig.swap("blank")
    with pytest.raises(DeskError, match="not known"):
        await rig.run(m.DeskReplace(old_asn="10000101100000000099"), BOSS)
    old = await store.card(db, "10000101100000000099")
    assert old is not None and (old.status, old.replaced_by) == ("lost", None)
    issuer = await (await rig.reader.open()).read_issuer()
    assert issuer.issue_state is IssueState.BLANK  # the new card was not personalised either


async def test_a_card_pulled_right_after_the_load_keeps_the_load_confirmed(db: Database) -> None:
    rig = DeskRig(db)
    transmit = rig.slot.transmit

    def pull_after_the_credit(apdu: bytes) -> bytes | None:
        answer = transmit(apdu)
        if apdu[:2] == b"\x80\x52":  # CREDIT FOR LOAD answered; the card is pulled before the next APDU
            rig.slot.arm(TearPlan(1, TearMode.BEFORE))
        return answer

    rig.slot.transmit = pull_after_the_credit  # type: ignore[method-assign]
    op, words, view = await rig.run(topup(1_000), BOSS)
    assert op.state.value == "confirmed" and view is None and "could not be read again" in words
    assert rig.card.state.ep.balance == 51_000
    assert await store.open_operations(db) == []
