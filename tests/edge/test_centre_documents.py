"""Signed documents from the centre reach the local rules: prices, calendar, grey records."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import load_config
from edge.core.centre import NO_CENTRE
from edge.demo_station import write_demo_config
from edge.events import EventBus
from edge.rules_runtime import RulesRuntime, open_rules
from protocol.record import RECORD_STRUCT, sample_record
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal
from storage.lists import ListStore
from uplink.centre_documents import centre_appliers
from uplink.documents import Document, parse_payload
from uplink.envelope import Body, DocKind
from uplink.errors import ApplyError, Reason


def document(kind: DocKind, version: int, payload: dict[str, Any]) -> Document:
    body = Body(kind, "DEMO-0001", version, dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC), None, payload)
    return Document(f"{kind.value}-{version}", body, parse_payload(kind, payload), b"{}", b"")


@pytest.fixture
async def rules(tmp_path: Path) -> AsyncIterator[RulesRuntime]:
    config = load_config(write_demo_config(tmp_path))
    db = await Database.open(tmp_path / "station.db")
    lists = ListStore.open(tmp_path / "lists")
    runtime = await open_rules(config, db, Journal(db), lists, EventBus(), Alarms(db), NO_CENTRE)
    yield runtime
    lists.close()
    await db.close()


async def test_prices_from_the_centre_are_scheduled_and_a_stale_version_refused(rules: RulesRuntime) -> None:
    appliers = centre_appliers(rules)
    before = rules.prices.advertised().version
    effective = (dt.datetime.now() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    doc = document(
        DocKind.PRICES, 7, {"effective_at": effective, "products": [{"g_code": "0092", "prices": [760]}]}
    )
    note = await appliers[DocKind.PRICES](doc)
    assert note is not None and "version 7" in note
    await rules.prices.step()
    assert rules.prices.advertised().version != before
    with pytest.raises(ApplyError) as err:
        await appliers[DocKind.PRICES](document(DocKind.PRICES, 7, doc.body.payload))
    assert err.value.reason is Reason.STALE


async def test_calendar_and_grey_records_replace_what_the_rules_use(rules: RulesRuntime) -> None:
    appliers = centre_appliers(rules)
    await appliers[DocKind.CALENDAR](
        document(DocKind.CALENDAR, 1, {"holidays": ["2026-10-01"], "shifted_working_days": ["2026-09-27"]})
    )
    assert rules.calendar_store is not None
    stored = await rules.calendar_store.load()
    assert dt.date(2026, 10, 1) in stored.holidays and dt.date(2026, 9, 27) in stored.shifted_working_days
    grey = sample_record(pos_ttc=9, t_type=0x01)
    payload = {
        "records": [
            {"station": "S9", "line": "bus1", "dispenser": 2, "pos_ttc": 9,
             "raw": RECORD_STRUCT.build(grey.to_dict()).hex(), "province": 0x11, "locked_at": "2024-05-01T08:00:09"}
        ]
    }  # fmt: skip
    note = await appliers[DocKind.GREY](document(DocKind.GREY, 1, payload))
    assert note == "1 grey records of other stations held"
    assert rules.remote_greys is not None and await rules.remote_greys.count() == 1
