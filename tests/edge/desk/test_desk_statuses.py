"""Card statuses kept at the desk and sent by the centre reach the rules at the nozzle (0x36, 0x35)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from authority_testkit import USER, WEDNESDAY, Rig, asn

from edge.cardstatus import CardStatusBook, StatusEntry
from edge.config import load_config
from edge.core.centre import NO_CENTRE
from edge.demo_station import write_demo_config
from edge.events import EventBus
from edge.rules import CardStatus, RulesConfig
from edge.rules_runtime import load_statuses, open_rules
from edge.session import Where
from protocol.messages import CardInserted, ListQuery
from protocol.reasons import RefusalReason, decode_m_flag
from storage import desk
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal
from storage.lists import ListStore
from uplink.centre_documents import centre_appliers
from uplink.documents import Document, parse_payload
from uplink.envelope import Body, DocKind
from uplink.errors import DownlinkRejected, Reason

R = RefusalReason
HERE = Where("bus1", 1)
NOW = dt.datetime(2026, 1, 14, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


async def ask(rig: Rig, card: str) -> tuple[bool, R | int]:
    rig.authority.on_card(HERE.line, HERE.dispenser, CardInserted(1, card, 0, 50_000))
    reply = await rig.authority.list_query(HERE, ListQuery(card))
    return decode_m_flag(reply.m_flag, internal=False)


async def register(db: Database, card: str, status: str = "normal", *, grace: bool = False,
                   at: dt.datetime = NOW) -> None:  # fmt: skip
    async with db.transaction() as tx:
        await desk.put_card_in(tx, desk.CardRow(card, "user"), actor="admin", now=at)
        if status != "normal":
            await desk.set_status_in(tx, card, status, actor="admin", now=at, grace=grace, reason="test")


@pytest.mark.parametrize(
    ("status", "reason"),
    [("lost", R.CARD_LOST), ("cancelled", R.CARD_CANCELLED), ("replaced", R.CARD_REPLACED)],
)
async def test_a_stored_status_is_refused_with_its_reason(db: Database, status: str, reason: R) -> None:
    card = asn("01", 31)
    await register(db, card, status)
    rig = Rig(db)
    rig.authority.statuses = await load_statuses(db)
    assert await ask(rig, card) == (True, reason)
    assert await ask(rig, USER) == (False, R.NONE)
    [history] = await desk.status_history(db, card)
    assert (history.previous, history.status, history.actor) == ("normal", status, "admin")


async def test_a_loss_with_grace_keeps_working_days_then_refuses(db: Database) -> None:
    card = asn("01", 32)
    reported = WEDNESDAY.astimezone()  # the rig's clock is Wednesday 10:00 local
    await register(db, card, "lost", grace=True, at=reported)
    rig = Rig(db, RulesConfig(lost_card_grace_working_days=2))
    rig.authority.statuses = await load_statuses(db)
    assert await ask(rig, card) == (False, R.NONE)
    [decision] = [d for d in await rig.decisions.all() if d.asn == card]
    assert "reported lost" in decision.words
    rig.clock.now = WEDNESDAY + dt.timedelta(days=3)  # Saturday: two working days (Thu, Fri) are over
    assert await ask(rig, card) == (True, R.CARD_LOST)


def test_the_newer_of_desk_and_centre_wins() -> None:
    book = CardStatusBook()
    card = asn("01", 33)
    book.set_desk(StatusEntry(card, CardStatus.LOST, NOW))
    book.replace_centre([StatusEntry(card, CardStatus.NORMAL, NOW + dt.timedelta(hours=1))])
    assert book.status(card) is CardStatus.NORMAL
    book.set_desk(StatusEntry(card, CardStatus.CANCELLED, NOW + dt.timedelta(hours=2)))
    assert book.status(card) is CardStatus.CANCELLED
    assert book.status(asn("01", 34)) is CardStatus.NORMAL


def document(version: int, payload: dict[str, Any]) -> Document:
    body = Body(DocKind.CARD_STATUS, "DEMO-0001", version, NOW, None, payload)
    return Document(f"card_status-{version}", body, parse_payload(DocKind.CARD_STATUS, payload), b"{}", b"")


async def test_statuses_from_the_centre_are_refused_here_and_survive_a_restart(tmp_path: Path) -> None:
    config = load_config(write_demo_config(tmp_path))
    lost_elsewhere, replaced = asn("01", 41), asn("01", 42)
    payload = {
        "cards": [
            {"asn": lost_elsewhere, "status": "lost", "since": "2026-01-13T08:00:00+08:00", "station": "S2"},
            {"asn": replaced, "status": "replaced", "since": "2026-01-13T09:00:00+08:00",
             "replaced_by": asn("01", 43)},
        ]
    }  # fmt: skip
    async with await Database.open(tmp_path / "station.db") as db:
        lists = ListStore.open(tmp_path / "lists")
        try:
            rules = await open_rules(config, db, Journal(db), lists, EventBus(), Alarms(db), NO_CENTRE)
            note = await centre_appliers(rules)[DocKind.CARD_STATUS](document(1, payload))
            assert note == "card statuses: 2 held, 2 refused at the nozzles"
            assert rules.statuses.status(lost_elsewhere) is CardStatus.LOST
            again = await open_rules(config, db, Journal(db), lists, EventBus(), Alarms(db), NO_CENTRE)
            assert again.statuses.status(replaced) is CardStatus.REPLACED
            rig = Rig(db)
            rig.authority.statuses = again.statuses
            assert await ask(rig, replaced) == (True, R.CARD_REPLACED)
        finally:
            lists.close()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"cards": [{"asn": "12ab", "status": "lost", "since": "2026-01-13T08:00:00+08:00"}]},
        {"cards": [{"asn": "1000010110000000001", "status": "stolen", "since": "2026-01-13T08:00:00+08:00"}]},
        {"cards": [{"asn": "1000010110000000001", "status": "lost", "since": "2026-01-13T08:00:00"}]},
        {
            "cards": [
                {
                    "asn": "1000010110000000001",
                    "status": "lost",
                    "since": "2026-01-13T08:00:00+08:00",
                    "colour": "red",
                }
            ]
        },
        {
            "cards": [{"asn": "1000010110000000001", "status": "lost", "since": "2026-01-13T08:00:00+08:00"}]
            * 2
        },
    ],
)
def test_a_bad_card_status_document_is_refused_whole(payload: dict[str, Any]) -> None:
    with pytest.raises(DownlinkRejected) as info:
        parse_payload(DocKind.CARD_STATUS, payload)
    assert info.value.reason is Reason.SCHEMA
