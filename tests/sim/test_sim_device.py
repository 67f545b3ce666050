"""The pure dispenser model (station_sim.device): messages in, messages and state out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from station_sim.cards import Card, CardKind, make_asn
from station_sim.device import Decision, DeviceError, Dispenser
from station_sim.records import record_bytes

from protocol.cng import CngProfile, ConsumptionMode
from protocol.codec import encode_message
from protocol.messages import (
    CardInserted,
    Content,
    DispenserInfo,
    DownloadInfo,
    DownloadStart,
    ErrorAck,
    ErrorInfo,
    Fuelling,
    GreyQuery,
    GreyReply,
    InfoRead,
    ListQuery,
    ListReply,
    NoRecord,
    NozzleInfo,
    RecordAck,
    RecordRead,
    RecordUpload,
    SegmentData,
    SegmentRequest,
    Totals,
    TotalsRead,
)
from protocol.reasons import RefusalReason, encode_m_flag
from protocol.record import EMP_NONE, RECORD_STRUCT, TxKind
from tests.sim.helpers import FakeClock, employee_card, list_file, make_device, poll, price_table, user_card

ALLOW_USER = encode_m_flag(False, RefusalReason.NONE)
ALLOW_INTERNAL = encode_m_flag(False, RefusalReason.NONE, internal=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def dev(clock: FakeClock, events: list[dict[str, Any]]) -> Dispenser:
    return make_device(clock, events)


def of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def authorise(dev: Dispenser, card: Card, nzn: int = 1) -> None:
    dev.insert_card(nzn, card)
    reported = dev.answer_poll(poll())  # the card is reported in a 0x31 first ...
    assert isinstance(reported, NozzleInfo) and any(e.nzn == nzn for e in reported.entries)
    assert dev.answer_poll(poll()) == ListQuery(card.asn)  # ... then asked about
    dev.handle_host(ListReply(ALLOW_INTERNAL if card.internal else ALLOW_USER, card.asn))


def sell(dev: Dispenser, clock: FakeClock, card: Card | None, amount: int, nzn: int = 1) -> None:
    if card is not None:
        authorise(dev, card, nzn)
    dev.lift(nzn)
    dev.fuel(nzn, amount=amount)
    clock.advance(10_000)
    dev.hang_up(nzn)
    if card is not None:
        dev.pull_card(nzn)


def ack_all(dev: Dispenser) -> None:
    while dev.pending:
        assert isinstance(dev.answer_poll(poll()), RecordUpload)
        dev.handle_host(RecordAck(0))


# --- multi-drop answers --------------------------------------------------------------------------------


def test_idle_dispenser_answers_a_poll_with_an_empty_0x31(dev: Dispenser) -> None:
    assert dev.answer_poll(poll()) == NozzleInfo(())


def test_priority_record_then_grey_then_list_then_error_then_download_then_realtime(
    dev: Dispenser, clock: FakeClock
) -> None:
    sell(dev, clock, None, 1000)  # a record pending
    dev.error_info("E01 pulser fault")  # a 0x3B
    grey_card = user_card(2)
    grey_card.grey = _grey_lock(grey_card)
    dev.insert_card(2, grey_card)
    dev.realtime()
    dev.handle_host(ListReply(ALLOW_USER, grey_card.asn))  # allowed: its 0x35 is pending
    list_card = user_card(3)
    dev.insert_card(1, list_card)
    dev.realtime()  # both cards reported: a 0x36 is pending
    for _ in range(5):
        dev.answer_poll(poll(prc_ver=9))  # and a download
    order = []
    for _ in range(10):
        msg = dev.answer_poll(poll(prc_ver=9))
        order.append(encode_message(msg)[0])
        match msg:
            case RecordUpload():
                dev.handle_host(RecordAck(0))
            case GreyQuery():
                dev.handle_host(GreyReply(1, msg.asn, 0, 0, 0, 0, msg.time))
            case ListQuery():
                dev.handle_host(ListReply(ALLOW_USER, msg.asn))
            case ErrorInfo():
                dev.handle_host(ErrorAck())
            case _:
                break
    assert order == [0x32, 0x35, 0x36, 0x3B, 0x33]


def test_a_card_is_reported_in_0x31_before_it_is_asked_about(dev: Dispenser) -> None:
    card = user_card()
    dev.insert_card(1, card)
    first = dev.answer_poll(poll())
    assert first == NozzleInfo((CardInserted(1, card.asn, 0, card.balance, b""),))
    assert dev.answer_poll(poll()) == ListQuery(card.asn)


def test_a_refused_employee_card_is_handed_back(dev: Dispenser) -> None:
    emp = employee_card(7)
    dev.on_duty(1, emp)
    dev.handle_host(ListReply(encode_m_flag(True, RefusalReason.NOT_WHITELISTED, internal=True), emp.asn))
    assert dev.nozzles[1].session is None and not emp.in_use and dev.pending == []


def _grey_lock(card: Card):  # type: ignore[no-untyped-def]
    from station_sim.cards import GreyLock

    return GreyLock(bal=card.balance, amn=1234, ctc=5, ds=0, time=dt.datetime(2026, 4, 30, 9, 0, 0))


def test_record_is_resent_until_acknowledged_then_never_again(
    dev: Dispenser, clock: FakeClock, events: list[dict[str, Any]]
) -> None:
    sell(dev, clock, None, 2000)
    first = dev.answer_poll(poll())
    again = dev.answer_poll(poll())
    assert isinstance(first, RecordUpload) and first == again
    dev.handle_host(RecordAck(1))  # T_MAC error still acknowledges
    assert dev.answer_poll(poll()) == NozzleInfo(())
    assert [e["pos_ttc"] for e in of(events, "ack")] == [first.record.pos_ttc]
    dev.handle_host(RecordAck(0))  # a stray ack changes nothing
    assert len(of(events, "ack")) == 1


def test_an_ack_without_a_record_outstanding_acknowledges_nothing(dev: Dispenser, clock: FakeClock) -> None:
    sell(dev, clock, None, 2000)
    dev.handle_host(RecordAck(0))
    assert len(dev.pending) == 1


def test_pos_ttc_counts_up_by_one_per_record(
    dev: Dispenser, clock: FakeClock, events: list[dict[str, Any]]
) -> None:
    for _ in range(3):
        sell(dev, clock, None, 1000)
    assert [e["pos_ttc"] for e in of(events, "record")] == [1, 2, 3]


def test_ledger_raw_is_the_record_struct_build(
    dev: Dispenser, clock: FakeClock, events: list[dict[str, Any]]
) -> None:
    sell(dev, clock, user_card(), 3000)
    (ev,) = of(events, "record")
    (rec,) = dev.pending
    assert bytes.fromhex(ev["raw"]) == bytes(RECORD_STRUCT.build(rec.to_dict())) == record_bytes(rec)
    assert len(bytes.fromhex(ev["raw"])) == 95


# --- controller reads -----------------------------------------------------------------------------------


def test_read_record_by_pos_ttc_or_no_record(
    dev: Dispenser, clock: FakeClock, events: list[dict[str, Any]]
) -> None:
    sell(dev, clock, None, 1000)
    ack_all(dev)
    answer = dev.handle_host(RecordRead(1))
    assert isinstance(answer, RecordUpload)
    assert record_bytes(answer.record).hex() == of(events, "record")[0]["raw"]
    assert dev.handle_host(RecordRead(99)) == NoRecord(99)


def test_totals_and_info(dev: Dispenser, clock: FakeClock) -> None:
    before = dev.handle_host(TotalsRead())
    assert isinstance(before, Totals)
    sell(dev, clock, None, 1500)
    after = dev.handle_host(TotalsRead())
    assert isinstance(after, Totals)
    vol = dev.pending[0].vol
    assert after.totals[0].v_tot == before.totals[0].v_tot + vol
    assert dev.pending[0].v_tot == after.totals[0].v_tot
    info = dev.handle_host(InfoRead())
    assert isinstance(info, DispenserInfo)
    assert info.nozzles == (1, 2) and info.prov == "11"


# --- sales and records -----------------------------------------------------------------------------------


def test_card_sale_record_fields(dev: Dispenser, clock: FakeClock) -> None:
    card = user_card(balance=50_000)
    sell(dev, clock, card, 7500)
    (rec,) = dev.pending
    assert rec.t_type == 0x10 and rec.kind is TxKind.SALE
    assert rec.amn == 7500 and rec.prc == 750 and rec.vol == 1000
    assert rec.bal == 50_000 - 7500 == card.balance
    assert rec.ctc == 1 and rec.asn == card.asn and rec.nzn == 1 and rec.g_code == "0102"
    assert rec.emp == EMP_NONE and rec.rfu == bytes(11) and rec.t_mac != 0
    assert rec.psam_tid == dev.psam.tid and rec.psam_asn == dev.psam.asn
    assert not card.in_use


def test_fuelling_is_reported_live_in_0x31(dev: Dispenser, clock: FakeClock) -> None:
    card = user_card()
    dev.insert_card(1, card)
    info = dev.realtime()
    assert info.entries == (CardInserted(1, card.asn, 0, card.balance, b""),)
    dev.answer_poll(poll())
    dev.handle_host(ListReply(ALLOW_USER, card.asn))
    dev.lift(1)
    dev.fuel(1, amount=100_00)
    clock.advance(2)  # 200 (0.01 L) at 100 per second
    (entry,) = dev.realtime().entries
    assert entry == Fuelling(1, 0, 200 * 750 // 100, 200, 750)


def test_cng_card_sends_its_profile_in_ic_data(dev: Dispenser) -> None:
    profile = CngProfile(1, ConsumptionMode.PREPAID_AMOUNT, 0, dt.date(2027, 3, 31), "京A12345", 0, 2, 0)
    card = Card(make_asn(CardKind.CNG, "11", 5), CardKind.CNG, 10_000, cng=profile)
    dev.insert_card(2, card)
    (entry,) = dev.realtime().entries
    assert isinstance(entry, CardInserted) and entry.ic_data == profile.build()


def test_refused_card_cannot_lift(dev: Dispenser, events: list[dict[str, Any]]) -> None:
    card = user_card()
    dev.insert_card(1, card)
    dev.answer_poll(poll())
    dev.handle_host(ListReply(encode_m_flag(True, RefusalReason.CYLINDER_EXPIRED), card.asn))
    assert dev.nozzles[1].session is not None and dev.nozzles[1].session.decision is Decision.REFUSED
    with pytest.raises(DeviceError):
        dev.lift(1)
    (q,) = of(events, "list_query")
    assert q["refused"] is True and q["reason"] == RefusalReason.CYLINDER_EXPIRED
    (c,) = of(events, "card")
    assert c["decision"] == "refused" and c["reason_name"] == "CYLINDER_EXPIRED"


def test_cash_sale_record(dev: Dispenser, clock: FakeClock) -> None:
    sell(dev, clock, None, 3000)
    (rec,) = dev.pending
    assert rec.t_type == TxKind.CASH and rec.asn == "0" * 20 and rec.amn == 3000


def test_employee_on_and_off_duty(dev: Dispenser, clock: FakeClock) -> None:
    emp = employee_card(7)
    dev.on_duty(1, emp)
    assert isinstance(dev.answer_poll(poll()), NozzleInfo)
    assert dev.answer_poll(poll()) == ListQuery(emp.asn)
    dev.handle_host(ListReply(ALLOW_INTERNAL, emp.asn))
    assert dev.nozzles[1].emp == 7 and dev.nozzles[1].session is None
    sell(dev, clock, None, 1000)
    dev.off_duty(1, emp)
    dev.answer_poll(poll())  # the on-duty record goes first
    ack_all(dev)
    dev.handle_host(ListReply(ALLOW_INTERNAL, emp.asn))
    assert dev.nozzles[1].emp == EMP_NONE


def test_employee_records(dev: Dispenser, clock: FakeClock) -> None:
    emp = employee_card(7)
    authorise_duty(dev, emp, on=True)
    sell(dev, clock, None, 1000)
    authorise_duty(dev, emp, on=False)
    kinds = [(r.t_type, r.emp) for r in dev.pending]
    assert kinds == [(TxKind.ON_DUTY, 7), (TxKind.CASH, 7), (TxKind.OFF_DUTY, 7)]


def authorise_duty(dev: Dispenser, card: Card, on: bool) -> None:
    (dev.on_duty if on else dev.off_duty)(1, card)
    dev.handle_host(ListReply(ALLOW_INTERNAL, card.asn))


# --- grey records -----------------------------------------------------------------------------------------


def test_card_pulled_mid_sale_makes_a_grey_record_then_unlock_before_the_next_sale(
    dev: Dispenser, clock: FakeClock, events: list[dict[str, Any]]
) -> None:
    card = user_card(balance=50_000)
    authorise(dev, card)
    dev.lift(1)
    dev.fuel(1, amount=20_000)
    clock.advance(3)  # 300 (0.01 L) = 2250 fen
    grey = dev.pull_card(1)
    assert grey is not None and grey.t_type == TxKind.GREY
    assert grey.bal == 50_000 and grey.amn == 2250 and grey.ctc == 1 and grey.tac != 0 and grey.gmac != 0
    assert card.grey is not None and card.grey.amn == 2250 and card.balance == 50_000
    assert dev.hang_up(1) is None
    ack_all(dev)

    authorise(dev, card)
    query = dev.answer_poll(poll())
    assert query == GreyQuery(card.asn, 50_000, 1, 0, grey.time)
    dev.handle_host(GreyReply(0, card.asn, 50_000, 2250, 1, 0, grey.time, 0xCAFE, bytes(6), 7))
    unlock = dev.pending[-1]
    assert unlock.kind is TxKind.GREY_UNLOCK and unlock.amn == 2250 and unlock.bal == 47_750
    assert unlock.gmac == 0xCAFE and card.grey is None
    dev.lift(1)
    assert [e for e in of(events, "grey_query")] == [
        {
            "event": "grey_query",
            "line": "bus1",
            "dispenser": 1,
            "nozzle": 1,
            "asn": card.asn,
            "found": True,
            "amn": 2250,
        }
    ]


def test_grey_record_not_found_refuses_the_card(dev: Dispenser, events: list[dict[str, Any]]) -> None:
    card = user_card()
    card.grey = _grey_lock(card)
    authorise(dev, card)
    query = dev.answer_poll(poll())
    assert isinstance(query, GreyQuery)
    dev.handle_host(GreyReply(1, card.asn, 0, 0, 0, 0, query.time))
    session = dev.nozzles[1].session
    assert session is not None and session.decision is Decision.REFUSED
    assert of(events, "card")[-1]["reason_name"] == "GREY_RECORD_NOT_FOUND"


# --- downloads ---------------------------------------------------------------------------------------------


def download(dev: Dispenser, content: int, data: bytes, **versions: int) -> list[object]:
    """Answer the dispenser's download requests the way a controller does; returns the requests."""
    requests: list[object] = []
    for _ in range(1000):
        msg = dev.answer_poll(poll(**versions))
        if isinstance(msg, DownloadStart):
            requests.append(msg)
            dev.handle_host(DownloadInfo(len(data), content))
        elif isinstance(msg, SegmentRequest):
            requests.append(msg)
            chunk = data[msg.s_offset * 16 : (msg.s_offset + msg.seg) * 16]
            dev.handle_host(SegmentData(content, msg.s_offset, msg.seg, chunk))
        elif isinstance(msg, RecordUpload):
            dev.handle_host(RecordAck(0))
        elif requests:
            return requests
    raise AssertionError("the download never finished")


def test_download_starts_only_after_five_polls_of_mismatch(dev: Dispenser) -> None:
    for _ in range(4):
        assert dev.answer_poll(poll(prc_ver=3)) == NozzleInfo(())
    assert dev.answer_poll(poll(prc_ver=3)) == DownloadStart(Content.PRICE_TABLE, 3)


def test_an_interrupted_mismatch_starts_counting_again_and_version_zero_is_ignored(dev: Dispenser) -> None:
    for _ in range(4):
        dev.answer_poll(poll(prc_ver=3))
    dev.answer_poll(poll(prc_ver=0))
    for _ in range(4):
        assert dev.answer_poll(poll(prc_ver=3)) == NozzleInfo(())
    for _ in range(10):
        assert dev.answer_poll(poll()) == NozzleInfo(())


def test_price_table_download_gives_a_receipt_record_and_new_prices(
    dev: Dispenser, clock: FakeClock, events: list[dict[str, Any]]
) -> None:
    data = price_table(3, (800, 790, 780))
    requests = download(dev, Content.PRICE_TABLE, data, prc_ver=3)
    assert isinstance(requests[0], DownloadStart)
    (done,) = of(events, "download")
    assert done["content"] == 4 and done["version"] == 3 and done["bytes"] == len(data)
    receipt = [e for e in of(events, "record") if e["t_type"] == TxKind.PRICE_RECEIPT]
    assert len(receipt) == 1
    assert dev.info().prc_ver == 3
    sell(dev, clock, None, 8000)
    assert dev.pending[-1].prc == 800
    for _ in range(10):  # the version is held: no second download
        assert not isinstance(dev.answer_poll(poll(prc_ver=3)), DownloadStart | SegmentRequest)


def test_long_download_asks_thirty_segments_at_a_time(dev: Dispenser, events: list[dict[str, Any]]) -> None:
    asns = [make_asn(CardKind.EMPLOYEE, "11", i) for i in range(100)]
    data = list_file(5, asns)
    requests = download(dev, Content.WHITE_LIST, data, wh_ver=5)
    segs = [r for r in requests if isinstance(r, SegmentRequest)]
    assert [(r.s_offset, r.seg) for r in segs] == [(0, 30), (30, 30), (60, 4)]
    assert of(events, "download")[0]["bytes"] == len(data) == 1016


def test_local_lists_decide_within_dates_for_cards_of_this_province(
    dev: Dispenser, events: list[dict[str, Any]]
) -> None:
    black = user_card(66)
    ok = user_card(67)
    foreign = user_card(68, province="32")
    download(dev, Content.BASE_BLACKLIST, list_file(2, [black.asn]), bl_ver=2)
    download(dev, Content.ADDED_BLACKLIST, list_file(1, []), add_bl_ver=1)
    download(dev, Content.DELETED_BLACKLIST, list_file(1, []), del_bl_ver=1)
    dev.insert_card(1, black)
    dev.insert_card(2, ok)
    assert dev.jobs.lists == []
    decisions = {e["asn"]: (e["decision"], e["source"]) for e in of(events, "card")}
    assert decisions == {black.asn: ("refused", "local"), ok.asn: ("allowed", "local")}
    dev.pull_card(1)
    dev.insert_card(1, foreign)
    dev.realtime()
    assert dev.answer_poll(poll()) == ListQuery(foreign.asn)


def test_lists_out_of_date_are_not_used(dev: Dispenser) -> None:
    download(dev, Content.BASE_BLACKLIST, list_file(2, [], valid=False), bl_ver=2)
    download(dev, Content.ADDED_BLACKLIST, list_file(1, []), add_bl_ver=1)
    download(dev, Content.DELETED_BLACKLIST, list_file(1, []), del_bl_ver=1)
    card = user_card()
    dev.insert_card(1, card)
    dev.realtime()
    assert dev.answer_poll(poll()) == ListQuery(card.asn)


# --- persistence -------------------------------------------------------------------------------------------


def test_snapshot_restores_counters_pending_and_stored_records(dev: Dispenser, clock: FakeClock) -> None:
    download(dev, Content.PRICE_TABLE, price_table(4), prc_ver=4)  # its receipt, POS_TTC 1, is acked
    for _ in range(3):
        sell(dev, clock, None, 1000)
    assert isinstance(dev.answer_poll(poll()), RecordUpload)
    dev.handle_host(RecordAck(0))
    snap = dev.snapshot()
    fresh = make_device(clock)
    fresh.restore(snap, dict(dev.files.raw))
    assert [r.pos_ttc for r in fresh.pending] == [r.pos_ttc for r in dev.pending] == [3, 4]
    assert fresh.pos_ttc_next == 5
    assert fresh.stored == dev.stored
    assert fresh.info().prc_ver == 4 and fresh.files.prices is not None
    assert {n: z.v_tot for n, z in fresh.nozzles.items()} == {n: z.v_tot for n, z in dev.nozzles.items()}


def test_every_record_is_persisted_before_it_can_be_sent(clock: FakeClock) -> None:
    seen: list[int] = []
    dev = make_device(clock, persist=lambda d: seen.append(len(d.pending)))
    sell(dev, clock, None, 1000)
    assert seen[-1] == 1
    dev.answer_poll(poll())
    dev.handle_host(RecordAck(0))
    assert seen[-1] == 0
