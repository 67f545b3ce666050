"""One MQTT v5 connection: a paho-mqtt 2.x client driven by the asyncio event loop.

Layer: uplink (I/O). paho does the protocol; this adapter does the I/O the way aiomqtt does: paho's
socket callbacks register the socket with the loop (`add_reader` → `loop_read`, `add_writer` →
`loop_write` while paho has bytes to send) and a loop timer calls `loop_misc` (keepalive). No thread
runs paho except the blocking TCP/TLS connect, which runs in a worker thread. Results come back as
asyncio futures: `publish()` returns a future resolved on PUBACK (QoS 1) or once written (QoS 0),
failed with `PublishRejected` for a failure reason code and with `ConnectionLost` if the connection
ends first.

A `MqttLink` is used once: connect, use, close. Reconnecting means a new `MqttLink` (a fresh paho
client, so paho never re-sends anything on its own: the outbox pump decides what is sent again). The
session on the broker can persist across links (`clean_start=False`, `session_expiry_s`), so the
broker keeps the subscriptions and queues QoS 1 downlink messages while the station is away.
Received messages are acknowledged by the application (`ack`) once handled, so the broker's
in-flight window (our Receive Maximum) applies back-pressure and nothing is acknowledged unhandled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, NoReturn, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from uplink.errors import ConnectFailed, ConnectionLost, LinkError, PublishRejected, SubscribeRefused

log = logging.getLogger(__name__)

MISC_INTERVAL_S: Final = 1.0
"""How often paho's `loop_misc` runs (keepalive PINGREQ and its timeout)."""
DEFAULT_RECEIVE_MAXIMUM: Final = 65535


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class LinkParams:
    host: str
    port: int
    client_id: str
    tls: ssl.SSLContext | None = None
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    connect_timeout_s: float = 10.0
    clean_start: bool = False
    session_expiry_s: int = 0
    receive_maximum: int = 16
    """How many QoS 1 messages the broker may have in flight to us (our downlink window)."""
    maximum_packet_size: int | None = None
    """The broker drops (never sends us) packets above this size."""
    will: Will | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class MqttLink:
    """One connection; see the module docstring."""

    def __init__(self, params: LinkParams, on_message: Callable[[Incoming], None] | None = None) -> None:
        self.params = params
        self._on_message = on_message
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._closed.add_done_callback(_consume)
        self._pending: dict[int, tuple[asyncio.Future[None], str]] = {}
        self._subscribing: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._fd: int | None = None
        self._sock: Any = None
        self._reading = self._writing = False
        self._misc: asyncio.TimerHandle | None = None
        self._abandoned = False
        self.session_present = False
        self.send_quota = DEFAULT_RECEIVE_MAXIMUM
        """The broker's Receive Maximum: how many QoS 1 PUBLISHes we may have unacknowledged."""
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        p = self.params
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=p.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.max_inflight_messages_set(0)  # the caller bounds what is in flight
        client.max_queued_messages_set(0)
        client.connect_timeout = p.connect_timeout_s
        if p.username is not None:
            client.username_pw_set(p.username, p.password)
        if p.tls is not None:
            client.tls_set_context(p.tls)
        if p.will is not None:
            client.will_set(p.will.topic, p.will.payload, p.will.qos, p.will.retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_paho_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        return client

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.params.tls is not None else "mqtt"
        return f"{scheme}://{self.params.host}:{self.params.port}"

    @property
    def connected(self) -> bool:
        return self._connected.done() and not self._connected.exception() and not self._closed.done()

    async def connect(self) -> None:
        """TCP (+TLS) connect, CONNECT, wait for a successful CONNACK; `ConnectFailed` otherwise."""
        p = self.params
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = p.receive_maximum
        if p.session_expiry_s:
            props.SessionExpiryInterval = p.session_expiry_s
        if p.maximum_packet_size:
            props.MaximumPacketSize = p.maximum_packet_size
        try:
            async with asyncio.timeout(p.connect_timeout_s + 1):
                try:
                    await asyncio.to_thread(
                        self._client.connect,
                        p.host,
                        p.port,
                        p.keepalive_s,
                        clean_start=p.clean_start,
                        properties=props,
                    )
                except (OSError, ValueError) as exc:  # ssl.SSLError and socket errors are OSErrors
                    raise ConnectFailed(f"{self.url}: {exc}", reason=type(exc).__name__) from exc
                await asyncio.shield(self._connected)
        except TimeoutError:
            self._abandon()
            raise ConnectFailed(
                f"{self.url}: no CONNACK within {p.connect_timeout_s:g} s", reason="timeout"
            ) from None
        except BaseException:
            self._abandon()
            raise
        self._misc = self._loop.call_later(MISC_INTERVAL_S, self._misc_tick)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def wait_closed(self) -> NoReturn:
        """Wait until the connection ends; raises the `LinkError` that ended it."""
        await asyncio.shield(self._closed)
        raise ConnectionLost(f"{self.url}: closed")  # pragma: no cover - _closed only ever fails

    async def close(self, timeout_s: float = 2.0) -> None:
        """Send DISCONNECT (the broker then does NOT publish the Will) and release the socket."""
        if self._sock is not None and self.connected:
            self._client.disconnect()
            with contextlib.suppress(LinkError, TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(self._closed)
        self._finish(ConnectionLost(f"{self.url}: closed by us"))
        self._release()

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a crash would (the broker publishes the Will)."""
        self._finish(ConnectionLost(f"{self.url}: aborted"))
        self._release()

    def fail(self, exc: LinkError) -> None:
        """End the connection because of `exc` (e.g. a refused PUBLISH): `wait_closed` raises it."""
        self._finish(exc)
        self._release()

    def _finish(self, exc: LinkError) -> None:
        if not self._connected.done():
            self._connected.set_exception(exc)
            self._connected.add_done_callback(_consume)
        if not self._closed.done():
            self._closed.set_exception(exc)
        pending, self._pending = self._pending, {}
        for fut, _topic in pending.values():
            if not fut.done():
                fut.set_exception(exc)
        subscribing, self._subscribing = self._subscribing, {}
        for sub in subscribing.values():
            if not sub.done():
                sub.set_exception(exc)

    def _release(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        self._unwatch()
        # paho may still hold the socket and close it later (even from its __del__): no callbacks then.
        client = self._client
        client.on_socket_open = client.on_socket_close = None
        client.on_socket_register_write = client.on_socket_unregister_write = None
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _abandon(self) -> None:
        """A connect that was cancelled or timed out: whatever the worker thread opens is closed."""
        self._abandoned = True
        self._finish(ConnectFailed(f"{self.url}: connect abandoned", reason="abandoned"))
        self._release()

    # --- operations -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed.done() or not self._connected.done():
            raise ConnectionLost(f"{self.url}: not connected")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> asyncio.Future[None]:
        """Send one PUBLISH; the future completes on PUBACK (QoS 1) or once written (QoS 0)."""
        self._check_open()
        fut: asyncio.Future[None] = self._loop.create_future()
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionLost(f"{self.url}: publish failed: {mqtt.error_string(info.rc)}")
        self._pending[info.mid] = (fut, topic)
        return fut

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Send one PUBLISH nobody waits for (live status)."""
        self.publish(topic, payload, qos, retain).add_done_callback(_consume)

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe and wait for the SUBACK; `SubscribeRefused` if the broker refuses any filter."""
        self._check_open()
        rc, mid = self._client.subscribe([(f, SubscribeOptions(qos=qos)) for f in filters])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionLost(f"{self.url}: subscribe failed: {mqtt.error_string(rc)}")
        fut: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._subscribing[mid] = fut
        codes = await fut
        for f, code in zip(filters, codes, strict=False):
            if code.is_failure:
                raise SubscribeRefused(f, str(code))

    def ack(self, message: Incoming) -> None:
        """Acknowledge a received QoS 1 message once it is handled (no-op when the link is gone)."""
        if message.qos and not self._closed.done():
            self._client.ack(message.mid, message.qos)

    # --- paho callbacks (all on the loop thread, except the socket ones during connect) -------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if self._connected.done():
            return
        if reason.is_failure:
            self._connected.set_exception(ConnectFailed(f"{self.url}: CONNACK {reason}", reason=str(reason)))
            self._connected.add_done_callback(_consume)
            return
        self.session_present = bool(flags.session_present)
        quota = getattr(props, "ReceiveMaximum", None) if props is not None else None
        self.send_quota = int(quota) if quota else DEFAULT_RECEIVE_MAXIMUM
        self._connected.set_result(None)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        who = "broker" if flags.is_disconnect_packet_from_server else "connection"
        if (
            not self._connected.done()
        ):  # e.g. a TLS 1.3 client-certificate refusal arrives after the handshake
            self._finish(ConnectFailed(f"{self.url}: closed before CONNACK: {reason}", reason=str(reason)))
        else:
            self._finish(ConnectionLost(f"{self.url}: {who} ended: {reason}"))
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Properties | None
    ) -> None:
        entry = self._pending.pop(mid, None)
        if entry is None:
            return
        fut, topic = entry
        if fut.done():
            return
        if reason.is_failure:
            fut.set_exception(PublishRejected(topic, str(reason), reason.value))
        else:
            fut.set_result(None)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, codes: list[ReasonCode], props: Properties | None
    ) -> None:
        fut = self._subscribing.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(list(codes))

    def _on_paho_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", "replace")  # paho has no raw accessor
        incoming = Incoming(topic, bytes(message.payload), message.qos, message.mid, bool(message.retain))
        if self._on_message is None:
            self.ack(incoming)
            return
        self._on_message(incoming)

    # --- socket plumbing ----------------------------------------------------------------------------

    def _in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._watch, sock)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._unwatch)

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._set_writing, True)

    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._set_writing, False)

    def _watch(self, sock: Any) -> None:
        if self._abandoned or self._closed.done():
            with contextlib.suppress(OSError):
                sock.close()
            return
        self._sock = sock
        self._fd = sock.fileno()
        self._loop.add_reader(self._fd, self._readable)
        self._reading = True
        if self._client.want_write():
            self._set_writing(True)

    def _unwatch(self) -> None:
        if self._fd is None:
            return
        if self._reading:
            self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._reading = self._writing = False
        self._fd = None

    def _set_writing(self, on: bool) -> None:
        if self._fd is None or on == self._writing:
            return
        if on:
            self._loop.add_writer(self._fd, self._writable)
        else:
            self._loop.remove_writer(self._fd)
        self._writing = on

    def _readable(self) -> None:
        try:
            self._client.loop_read()
        except OSError as exc:  # paho handles the usual socket errors itself; this is the rest
            self.fail(ConnectionLost(f"{self.url}: read failed: {exc}"))
            return
        sock = self._sock
        # TLS may hold decrypted bytes that select() does not see: read them now.
        if isinstance(sock, ssl.SSLSocket) and self._fd is not None and sock.pending():
            self._loop.call_soon(self._readable)

    def _writable(self) -> None:
        try:
            self._client.loop_write()
        except OSError as exc:
            self.fail(ConnectionLost(f"{self.url}: write failed: {exc}"))

    def _misc_tick(self) -> None:
        self._misc = None
        if self._closed.done():
            return
        self._client.loop_misc()
        if not self._closed.done():
            self._misc = self._loop.call_later(MISC_INTERVAL_S, self._misc_tick)
