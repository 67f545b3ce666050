"""Signed downlink documents over a real mosquitto: applied whole when valid; refused, audited and
answered when hostile, with the lists and prices in force unchanged."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uplink_helpers import (
    DEADLINE_S,
    STATION,
    centre_params,
    consuming,
    keys_setting,
    make_record,
    running,
    settings_for,
)

from protocol.downloads import ListFile, ListKind
from storage.db import Database
from storage.journal import Journal
from storage.lists import ListStore
from uplink import payloads as p
from uplink.centre import CentreConsumer, build_document, publish_parts
from uplink.docstore import CentreDocuments
from uplink.documents import PricesDocument
from uplink.envelope import DocKind, encode_body, make_parts, sign
from uplink.link import MqttLink
from uplink.mosquitto import Mosquitto
from uplink.service import Uplink
from uplink.wiring import default_appliers

VALID_FROM, VALID_TO = dt.date(2024, 1, 1), dt.date(2030, 12, 31)
PRICES = {"effective_at": "2024-05-01T00:00", "products": [{"g_code": "0102", "prices": [745, 740]}]}


def asns(n: int, start: int = 0) -> list[str]:
    return [f"1000{i:016d}" for i in range(start, start + n)]


def list_b64(version: int, cards: list[str]) -> str:
    return base64.b64encode(ListFile.from_asns(version, VALID_FROM, VALID_TO, 0x1101, cards).build()).decode()


@dataclass
class Rig:
    uplink: Uplink
    lists: ListStore
    centre: MqttLink
    consumer: CentreConsumer
    key: Ed25519PrivateKey
    docs: CentreDocuments

    async def send(self, *parts: bytes) -> None:
        await publish_parts(self.centre, STATION, parts)

    async def send_doc(
        self, kind: DocKind, version: int, payload: dict[str, Any], chunk_bytes: int = 1 << 20
    ) -> None:
        parts = build_document(
            self.key, station=STATION, kind=kind, version=version, payload=payload, chunk_bytes=chunk_bytes
        )
        await self.send(*parts)

    def replies(self) -> list[p.ReplyPayload]:
        return [m for _, m in self.consumer.messages if isinstance(m, p.ReplyPayload)]

    async def wait_replies(self, n: int) -> list[p.ReplyPayload]:
        await self.consumer.wait_for(lambda: len(self.replies()) >= n, DEADLINE_S)
        return self.replies()


@pytest.fixture
async def rig(
    broker: Mosquitto, db: Database, tmp_path: Path, centre_key: Ed25519PrivateKey
) -> AsyncIterator[Rig]:
    lists = ListStore.open(tmp_path / "lists")
    settings = settings_for(
        broker,
        tmp_path,
        centre_keys=keys_setting(centre_key),
        max_part_bytes=64 * 1024,
        max_document_bytes=1 << 20,
        assembly_timeout_s=1,
    )
    uplink = Uplink(settings, STATION, db, appliers=default_appliers(lists))
    consumer = CentreConsumer(centre_params(broker, "centre-consumer"))
    async with (
        consuming(consumer),
        running(uplink),
        MqttLink(centre_params(broker, "centre-publisher")) as centre,
    ):
        yield Rig(uplink, lists, centre, consumer, centre_key, CentreDocuments(uplink.store))


async def test_valid_documents_are_applied_whole(rig: Rig, db: Database) -> None:
    # A full list in 12 parts, applied once complete and verified, in one list-store generation.
    await rig.send_doc(
        DocKind.LISTS,
        1,
        {"mode": "full", "lists": {"base": list_b64(1, asns(20_000))}},
        chunk_bytes=32 * 1024,
    )
    await rig.send_doc(DocKind.LISTS, 2, {"mode": "delta", "lists": {"added": list_b64(1, asns(3, 50_000))}})
    await rig.send_doc(
        DocKind.PRICES, 1, {**PRICES, "nozzles": [{"nzn": 2, "prices": [760], "density": 725}]}
    )
    await rig.send_doc(
        DocKind.CALENDAR, 1, {"holidays": ["2024-10-01"], "shifted_working_days": ["2024-09-29"]}
    )
    await rig.send_doc(DocKind.CONFIG, 1, {"settings": {"rules": {"grey_delay_working_days": 3}}})
    grey, grey_raw = make_record(9, t_type=0x01)
    await rig.send_doc(
        DocKind.GREY,
        1,
        {
            "records": [
                {
                    "station": "S9",
                    "line": "bus1",
                    "dispenser": 2,
                    "pos_ttc": 9,
                    "raw": grey_raw.hex(),
                    "province": 0x11,
                    "locked_at": "2024-05-01T08:00:09",
                }
            ]
        },
    )
    replies = await rig.wait_replies(6)
    assert [(r.kind, r.outcome) for r in replies] == [
        ("lists", "applied"),
        ("lists", "applied"),
        ("prices", "applied"),
        ("calendar", "applied"),
        ("config", "applied"),
        ("grey", "applied"),
    ]
    current = rig.lists.current
    base = current.get(ListKind.BASE)
    assert base is not None and base.count == 20_000
    assert current.is_blacklisted(asns(1, 50_001)[0])
    prices = await rig.docs.prices_in_force(dt.datetime(2024, 6, 1))
    assert prices is not None and prices.products[0].prices == (745, 740)
    assert (prices.nozzles[0].nzn, prices.nozzles[0].prices, prices.nozzles[0].density) == (2, (760,), 725)
    calendar = await rig.docs.calendar()
    assert calendar is not None and dt.date(2024, 10, 1) in calendar.holidays
    config = await rig.docs.config()
    assert config is not None and config.settings["rules"]["grey_delay_working_days"] == 3
    greys = await rig.docs.grey_records()
    assert greys is not None and greys.records[0].record == grey
    assert (greys.records[0].province, greys.records[0].locked_at) == (0x11, dt.datetime(2024, 5, 1, 8, 0, 9))
    audit = await rig.uplink.store.audit_entries()
    assert {a.outcome for a in audit} == {"applied"}


async def test_hostile_downlink_is_rejected_audited_and_changes_nothing(rig: Rig) -> None:
    await rig.send_doc(DocKind.LISTS, 1, {"mode": "full", "lists": {"base": list_b64(1, asns(100))}})
    applied_prices = build_document(rig.key, station=STATION, kind=DocKind.PRICES, version=2, payload=PRICES)
    await rig.send(*applied_prices)
    await rig.wait_replies(2)
    generation = rig.lists.current.generation
    prices_before = await rig.docs.prices_in_force(dt.datetime(2030, 1, 1))

    other_key = Ed25519PrivateKey.generate()
    evil_prices: dict[str, Any] = {
        "effective_at": "2024-05-01T00:00",
        "products": [{"g_code": "0102", "prices": [1]}],
    }
    evil_list: dict[str, Any] = {"mode": "full", "lists": {"base": list_b64(9, asns(5, 777))}}
    now = dt.datetime.now(dt.UTC)

    def body(
        kind: str,
        version: int,
        payload: dict[str, Any],
        station: str = STATION,
        expires_at: dt.datetime | None = None,
    ) -> bytes:
        return encode_body(kind, station, version, payload, issued_at=now, expires_at=expires_at)

    valid = body("prices", 3, evil_prices)
    part = json.loads(make_parts(valid, sign(rig.key, valid), 1 << 20)[0])
    unsigned = json.dumps({k: v for k, v in part.items() if k != "sig"}).encode()
    tampered_body = body("prices", 3, {**evil_prices, "products": [{"g_code": "0102", "prices": [2]}]})
    hostile: list[tuple[str, list[bytes]]] = [
        ("unsigned", [unsigned]),
        (
            "bad_signature",
            make_parts(body("lists", 5, evil_list), sign(other_key, body("lists", 5, evil_list)), 1 << 20),
        ),
        ("bad_signature", make_parts(tampered_body, sign(rig.key, valid), 1 << 20)),
        ("malformed", [make_parts(valid, sign(rig.key, valid), 1 << 20)[0][:150]]),  # truncated in transit
        ("truncated", [json.dumps({**part, "data": part["data"][:40]}).encode()]),
        ("oversized", [b"{" + b" " * (70 * 1024) + b"}"]),
        ("oversized", [json.dumps({**part, "size": 5 << 20, "parts": 80}).encode()]),
        (
            "schema",
            make_parts(
                b := body("prices", 4, {"effective_at": "tomorrow", "products": []}),
                sign(rig.key, b),
                1 << 20,
            ),
        ),
        ("schema", make_parts(b := b'{"v":1,"kind":"firmware","payload":{}}', sign(rig.key, b), 1 << 20)),
        (
            "schema",
            make_parts(
                b := body("lists", 6, {"mode": "full", "lists": {"base": "AAAA"}}), sign(rig.key, b), 1 << 20
            ),
        ),
        (
            "wrong_station",
            make_parts(b := body("prices", 5, evil_prices, station="S2"), sign(rig.key, b), 1 << 20),
        ),
        (
            "expired",
            make_parts(
                b := body("prices", 6, evil_prices, expires_at=now - dt.timedelta(hours=1)),
                sign(rig.key, b),
                1 << 20,
            ),
        ),
        ("stale", make_parts(b := body("prices", 1, evil_prices), sign(rig.key, b), 1 << 20)),
        # The very messages of the applied prices document, captured and sent again.
        ("replayed", applied_prices),
        # The same list content and version, signed again later (another document id).
        (
            "stale",
            [*build_document(rig.key, station=STATION, kind=DocKind.LISTS, version=1, payload=evil_list)],
        ),
        # A chunked list whose last part never comes: never applied, audited when given up.
        ("incomplete", make_parts(b := body("lists", 7, evil_list), sign(rig.key, b), 200)[:-1]),
    ]
    for _reason, parts in hostile:
        await rig.send(*parts)
    replies = await rig.wait_replies(2 + len(hostile))
    rejected = replies[2:]
    assert {r.outcome for r in rejected} == {"rejected"}
    assert sorted(r.reason for r in rejected) == sorted(reason for reason, _ in hostile)
    replayed = next(r for r in rejected if r.reason == "replayed")
    assert (replayed.kind, replayed.version) == ("prices", 2)

    assert rig.lists.current.generation == generation
    assert not rig.lists.current.is_blacklisted(asns(1, 777)[0])
    prices_after = await rig.docs.prices_in_force(dt.datetime(2030, 1, 1))
    assert prices_after == prices_before and isinstance(prices_after, PricesDocument)
    audit = await rig.uplink.store.audit_entries(limit=100)
    assert sum(a.outcome == "rejected" for a in audit) == len(hostile)
    assert {a.reason for a in audit if a.outcome == "rejected"} == {reason for reason, _ in hostile}
    assert rig.uplink.status()["downlink"]["rejected"] == len(hostile)


async def test_resend_request_requeues_stored_records(rig: Rig, db: Database) -> None:
    journal = Journal(db)
    start = dt.datetime.now(dt.UTC)
    for pos in range(1, 21):
        record, raw = make_record(pos)
        await journal.store_record(
            "bus1", 4, record, raw, received_at=start, outbox=rig.uplink.record_hook("bus1", 4, record, raw)
        )
    await rig.consumer.wait_for(lambda: rig.consumer.stats.by_type["record"] >= 20, DEADLINE_S)
    async with asyncio.timeout(DEADLINE_S):  # delivered AND deleted from the outbox
        await rig.uplink.pump.wait_drained()
    before = rig.consumer.stats.duplicates
    await rig.send_doc(DocKind.RESEND, 1, {"since": start.isoformat(), "line": "bus1", "dispenser": 4})
    replies = await rig.wait_replies(1)
    assert (
        replies[0].outcome == "applied"
        and "20 records" in replies[0].detail
        and "20 queued" in replies[0].detail
    )
    await rig.consumer.wait_for(lambda: rig.consumer.stats.duplicates >= before + 20, DEADLINE_S)
    assert rig.consumer.stats.by_type["record"] == 20  # the re-sent copies carry the same keys
