"""Outbox backlog drain to a local mosquitto at QoS 1 (target: 100 000 messages in < 60 s).

The bench starts its own mosquitto (uplink.mosquitto) on a free loopback port, fills a fresh station
database's outbox with `records` realistic record messages (~530 bytes of JSON each, as the journal
queues them), then runs the real uplink service (TLS off, password auth, the default window and
batch) and times until the outbox is empty: every message PUBLISHed, PUBACKed and deleted.

While draining, a 5 ms timer measures how late the event loop runs (the lag a line driver would
see). For comparison it measures, in the same run, the raw paho-mqtt rate: one threaded paho client
publishing the same number of same-sized QoS 1 messages with the same in-flight window, no database.
The difference is the price of store-and-forward (batched reads, batched deletes with fsync).

`fill_outbox` and `drain` are reusable pieces (e.g. to measure the poll rate while draining).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from protocol.codec import encode_message
from protocol.messages import RecordUpload
from protocol.record import sample_record
from storage.clock import utc_now
from storage.db import Database
from storage.outbox import OutboxMessage, enqueue_in
from uplink.config import UplinkSettings, parse_uplink
from uplink.messages import MessageFactory
from uplink.mosquitto import Mosquitto
from uplink.service import Uplink

TARGET_S = 60.0
STATION = "BENCH"
PASSWORD = "bench-password"
FILL_CHUNK = 5000
DEADLINE_S = 600.0
LAG_PERIOD_S = 0.005

_TEMPLATE = sample_record(
    pos_ttc=0,
    time=dt.datetime(2024, 5, 1, 8, 0, 0),
    asn="10000000000000000001",
    amn=12_345,
    ctc=17,
    psam_asn="00000000000000000001",
    psam_ttc=99,
    vol=1657,
    prc=745,
    emp=7,
    v_tot=123_456_789,
)
_RAW = encode_message(RecordUpload(_TEMPLATE))[1:]


def record_messages(factory: MessageFactory, first: int, count: int) -> list[OutboxMessage]:
    """`count` record messages (dispensers 1..16 on one line, POS_TTC rising), as the journal queues them."""
    out = []
    for n in range(first, first + count):
        record = dataclasses.replace(_TEMPLATE, pos_ttc=n)
        raw = n.to_bytes(4, "big") + _RAW[4:]
        out.append(factory.record("bus1", 1 + n % 16, record, raw))
    return out


async def fill_outbox(db: Database, records: int, station: str = STATION) -> int:
    """Queue `records` record messages; returns the average payload size in bytes."""
    factory = MessageFactory(station)
    size = 0
    for first in range(0, records, FILL_CHUNK):
        msgs = record_messages(factory, first, min(FILL_CHUNK, records - first))
        size += sum(len(m.payload) for m in msgs)
        async with db.transaction() as tx:
            await enqueue_in(tx, msgs, now=utc_now())
    return size // max(1, records)


def write_secret(path: Path) -> None:
    """The station's broker password, readable by its owner only (the daemon refuses any other file)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(PASSWORD)


def bench_settings(broker: Mosquitto, folder: Path, **overrides: Any) -> UplinkSettings:
    password = folder / "password"
    write_secret(password)
    table = {
        "url": broker.url,
        "allow_plaintext": True,
        "password_file": str(password),
        "live_interval_s": 0,
        "max_rate_per_s": 0,  # the pump's own capacity; the daemon part of `station bench drain` runs capped
        **overrides,
    }
    settings = parse_uplink(table, station_id=STATION, base=folder)
    assert settings is not None
    return settings


async def drain(uplink: Uplink) -> float:
    """Run the uplink until its outbox is empty; returns the seconds from start to empty."""
    began = time.perf_counter()
    task = asyncio.create_task(uplink.run())
    try:
        async with asyncio.timeout(DEADLINE_S):
            await uplink.pump.wait_drained()
        return time.perf_counter() - began
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def loop_lag(samples: list[float], period_s: float = LAG_PERIOD_S) -> None:
    """Record how late a `period_s` timer fires (what a line driver waiting on a reply would see)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + period_s
        await asyncio.sleep(period_s)
        samples.append(loop.time() - due)


def raw_paho_rate(broker: Mosquitto, count: int, size: int, window: int) -> float:
    """Messages/s of one threaded paho client publishing QoS 1 with `window` in flight, no database."""
    room = threading.Semaphore(window)
    done = threading.Event()
    acked = 0

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        nonlocal acked
        acked += 1
        room.release()
        if acked == count:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="raw-paho", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.username_pw_set(STATION, PASSWORD)
    client.max_inflight_messages_set(0)
    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        payload = b"x" * size
        topic = f"station/{STATION}/records"
        began = time.perf_counter()
        for _ in range(count):
            room.acquire()
            client.publish(topic, payload, qos=1)
        if not done.wait(DEADLINE_S):
            raise TimeoutError("raw paho: PUBACKs missing")
        return count / (time.perf_counter() - began)
    finally:
        client.disconnect()
        client.loop_stop()


async def _run(records: int, window: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        folder = Path(tmp)
        with Mosquitto(folder / "broker", users={STATION: PASSWORD}, persistence=False) as broker:
            db = await Database.open(folder / "station.db")
            try:
                fill_began = time.perf_counter()
                size = await fill_outbox(db, records)
                fill_s = time.perf_counter() - fill_began
                overrides = {} if window is None else {"window": window}
                uplink = Uplink(bench_settings(broker, folder, **overrides), STATION, db)
                lags: list[float] = []
                probe = asyncio.create_task(loop_lag(lags))
                seconds = await drain(uplink)
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
                depth = await uplink.outbox.depth()
                stats = uplink.pump.stats
            finally:
                await db.close()
            raw = await asyncio.to_thread(raw_paho_rate, broker, records, size, uplink.settings.window)
    return {
        "name": "drain",
        "value": round(seconds, 2),
        "unit": "s",
        "target": TARGET_S,
        "records": records,
        "payload_bytes": size,
        "rate_per_s": round(records / seconds, 1),
        "raw_paho_per_s": round(raw, 1),
        "window": uplink.settings.window,
        "batch": uplink.settings.batch,
        "sent": stats.sent,
        "acked": stats.acked,
        "left_in_outbox": depth,
        "fill_s": round(fill_s, 2),
        "loop_lag_p99_ms": round(1000 * _quantile(lags, 0.99), 2),
        "loop_lag_max_ms": round(1000 * max(lags, default=0.0), 2),
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(records: int = 100_000, window: int | None = None) -> dict[str, Any]:
    result = asyncio.run(_run(records, window))
    print(
        f"drain: {result['records']} queued messages ({result['payload_bytes']} B) to a local mosquitto at QoS 1 "
        f"in {result['value']:.2f} s = {result['rate_per_s']:.0f} msg/s (target < {TARGET_S:.0f} s); "
        f"raw paho, same window {result['window']}, no database: {result['raw_paho_per_s']:.0f} msg/s; "
        f"event-loop lag during the drain p99 {result['loop_lag_p99_ms']} ms, max {result['loop_lag_max_ms']} ms"
    )
    return result


if __name__ == "__main__":
    run()
