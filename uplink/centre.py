"""A minimal reference centre: consume the fleet's uplink, sign and send downlink documents.

Layer: uplink (example for integrators; `station centre-sim` is its command line). It shows what a
real centre must do:

- subscribe with MQTT 5 SHARED subscriptions (`$share/<group>/station/+/records`, `…/events`,
  `…/reply`), so several consumer processes split the fleet; the status stream is a plain
  subscription (`station/+/status`: shared subscriptions get no retained messages). Per-station order
  needs the broker to dispatch a station's messages to one consumer (EMQX `hash_clientid` /
  `hash_topic`, HiveMQ/VerneMQ equivalents; mosquitto dispatches round-robin, fine for one consumer);
- persistent session (`clean_start` false + session expiry) so the broker queues while it is away.
  CAUTION: mosquitto 2.0 does not restore SHARED subscriptions from its persistence file, so after a
  broker restart it drops what stations publish until the consumer has subscribed again
  (`shared=False` / `--no-share` uses plain subscriptions, which it does restore; clustered brokers
  keep shared-subscription sessions). The centre repairs such gaps with a `resend` document;
- check every message against the contract (`uplink.payloads.decode`: schema version, types, the
  station in the payload = the station in the topic, the key derived from the content);
- drop duplicates by idempotency key (at-least-once delivery is normal: re-sends after outages);
- acknowledge (PUBACK) only once the message is durably handled (here: written to `--out` and
  flushed), so nothing is lost if the centre crashes;
- sign documents with the centre's Ed25519 key and send them in parts (`uplink.envelope`).

The JSON-lines output has one line per NEW message: {"topic", "key", "payload"}; a restarted consumer
reads its file back to know the keys already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.cancel import in_own_task, raise_if_cancelling
from storage.clock import utc_now
from uplink import payloads as p
from uplink import topics
from uplink.backoff import Backoff
from uplink.envelope import DocKind, encode_body, make_parts, sign
from uplink.errors import LinkError, PayloadError
from uplink.link import Incoming, LinkParams, MqttLink
from uplink.topics import Stream

log = logging.getLogger(__name__)

DEFAULT_GROUP: Final = "centre"
SHARED_STREAMS: Final = (Stream.RECORDS, Stream.EVENTS, Stream.REPLY)
DEFAULT_CHUNK_BYTES: Final = 128 * 1024
ACK_BATCH: Final = 256
"""Messages written per fsync before their PUBACKs go out."""


@dataclass(slots=True)
class CentreStats:
    received: int = 0
    unique: int = 0
    duplicates: int = 0
    invalid: int = 0
    out_of_order: int = 0
    """Records whose POS_TTC is below one already seen for the same dispenser (first copies only)."""
    by_type: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "out_of_order": self.out_of_order,
            "by_type": dict(self.by_type),
        }


class CentreConsumer:
    """Consumes, checks and de-duplicates the uplink of every station."""

    def __init__(
        self,
        params: LinkParams,
        *,
        group: str = DEFAULT_GROUP,
        out: Path | None = None,
        status: bool = True,
        shared: bool = True,
        on_message: Callable[[str, p.Payload], None] | None = None,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.params = params
        self.group = group
        self.out = out
        self.status = status
        self.shared = shared
        self._on_message = on_message
        self._backoff = Backoff(backoff_min_s, backoff_max_s)
        self.seen: set[str] = set()
        self.messages: list[tuple[str, p.Payload]] = []
        """Every new (first-seen) message, in arrival order."""
        self.stats = CentreStats()
        self._last_pos: dict[tuple[str, str, int], int] = {}
        self._file: IO[str] | None = None
        self.subscribed = asyncio.Event()
        self.changed = asyncio.Event()
        """Set after each message (tests wait on it with a deadline)."""

    def filters(self) -> list[str]:
        if self.shared:
            streams = [topics.shared_filter(self.group, s) for s in SHARED_STREAMS]
        else:
            streams = [topics.fleet_filter(s) for s in SHARED_STREAMS]
        return streams + ([topics.fleet_filter(Stream.STATUS)] if self.status else [])

    def _load_seen(self) -> None:
        if self.out is None or not self.out.exists():
            return
        with self.out.open(encoding="utf-8") as f:
            for line in f:
                with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                    self.seen.add(json.loads(line)["key"])

    async def run(self) -> None:
        """Consume until cancelled, reconnecting with back-off."""
        self._load_seen()
        if self.out is not None:
            self._file = self.out.open("a", encoding="utf-8")
        try:
            while True:
                queue: asyncio.Queue[Incoming] = asyncio.Queue()
                link = MqttLink(self.params, queue.put_nowait)
                try:
                    async with link:
                        await link.subscribe(*self.filters(), qos=1)
                        self._backoff.reset()
                        self.subscribed.set()
                        await in_own_task(self._linked(link, queue))
                except* LinkError as group:
                    log.info("centre: %s; reconnecting", group.exceptions[0])
                raise_if_cancelling()  # a stop that came with the link's failure (edge.core.cancel)
                self.subscribed.clear()
                await asyncio.sleep(self._backoff.next())
        finally:
            if self._file is not None:
                self._file.close()

    async def _linked(self, link: MqttLink, queue: asyncio.Queue[Incoming]) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._consume(link, queue))
            tg.create_task(link.wait_closed())

    async def _consume(self, link: MqttLink, queue: asyncio.Queue[Incoming]) -> None:
        """Handle what has arrived, make it durable (one fsync per batch), then acknowledge it."""
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < ACK_BATCH:
                batch.append(queue.get_nowait())
            for message in batch:
                self.handle(message.topic, message.payload)
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
            for message in batch:
                link.ack(message)

    def handle(self, topic: str, data: bytes) -> p.Payload | None:
        """Check and record one message; returns the payload when it is new."""
        self.stats.received += 1
        try:
            where = topics.parse(topic)
            payload = p.decode(data)
            if payload.station != where.station or payload.STREAM is not where.stream:
                raise PayloadError(f"{payload.TYPE} for {payload.station} on topic {topic}")
        except (ValueError, PayloadError) as exc:
            self.stats.invalid += 1
            log.warning("centre: invalid message on %s: %s", topic, exc)
            self.changed.set()
            return None
        if payload.key in self.seen:
            self.stats.duplicates += 1
            self.changed.set()
            return None
        self.seen.add(payload.key)
        self.stats.unique += 1
        self.stats.by_type[payload.TYPE] += 1
        if isinstance(payload, p.RecordPayload) and not payload.conflict:
            ident = (payload.station, payload.line, payload.dispenser)
            last = self._last_pos.get(ident)
            if last is not None and payload.pos_ttc < last:
                self.stats.out_of_order += 1
            self._last_pos[ident] = max(payload.pos_ttc, last or 0)
        self.messages.append((topic, payload))
        if self._file is not None:
            self._file.write(
                json.dumps({"topic": topic, "key": payload.key, "payload": p.to_json_obj(payload)}) + "\n"
            )
        if self._on_message is not None:
            self._on_message(topic, payload)
        self.changed.set()
        return payload

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float) -> None:
        """Wait until `condition()` holds (re-checked after every message); TimeoutError at the deadline."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


def build_document(
    key: Ed25519PrivateKey,
    *,
    station: str,
    kind: DocKind | str,
    version: int,
    payload: dict[str, Any],
    issued_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> list[bytes]:
    """Sign a document and cut it into the MQTT messages to publish on `station/{id}/down`."""
    body = encode_body(
        kind, station, version, payload, issued_at=issued_at or utc_now(), expires_at=expires_at
    )
    return make_parts(body, sign(key, body), chunk_bytes)


async def publish_parts(link: MqttLink, station: str, parts: Sequence[bytes]) -> None:
    """Publish document parts in order (QoS 1) and wait for every PUBACK."""
    down = topics.down(station)
    room = asyncio.Semaphore(max(1, min(32, link.send_quota)))

    async def one(part: bytes) -> None:
        async with room:
            await link.publish(down, part, qos=1)

    async with asyncio.TaskGroup() as tg:
        for part in parts:  # tasks start in order, so the parts are published in order
            tg.create_task(one(part))
