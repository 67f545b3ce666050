"""The MQTT link against a real mosquitto: TLS with a pinned CA, passwords, client certificates, ACLs."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from uplink_helpers import DEADLINE_S, STATION, STATION_PASSWORD, Pki, centre_params, make_pki

from uplink.errors import ConnectFailed, PublishRejected
from uplink.link import Incoming, LinkParams, MqttLink
from uplink.mosquitto import STATION_ACL, Mosquitto, TlsFiles


def station_params(broker: Mosquitto, ca: Path | None, *, password: str = STATION_PASSWORD) -> LinkParams:
    tls = None if ca is None else ssl.create_default_context(cafile=str(ca))
    return LinkParams(
        host=broker.host,
        port=broker.port,
        client_id=STATION,
        tls=tls,
        username=STATION,
        password=password,
        connect_timeout_s=5,
    )


async def test_tls_password_publish_and_receive(tls_broker: Mosquitto, pki: Pki) -> None:
    got: asyncio.Queue[Incoming] = asyncio.Queue()
    async with MqttLink(centre_params(tls_broker), got.put_nowait) as centre:
        await centre.subscribe("station/+/records")
        async with MqttLink(station_params(tls_broker, pki.ca)) as link:
            assert link.url.startswith("mqtts://")
            await link.publish(f"station/{STATION}/records", b"hello", qos=1)
        async with asyncio.timeout(DEADLINE_S):
            message = await got.get()
        centre.ack(message)
    assert (message.topic, message.payload) == (f"station/{STATION}/records", b"hello")


async def test_wrong_password_is_refused(tls_broker: Mosquitto, pki: Pki) -> None:
    with pytest.raises(ConnectFailed, match="CONNACK"):
        async with MqttLink(station_params(tls_broker, pki.ca, password="wrong")):
            pass


async def test_a_broker_certificate_from_another_ca_is_refused(tls_broker: Mosquitto, tmp_path: Path) -> None:
    foreign = make_pki(tmp_path / "foreign")  # the client pins a CA that did not sign the broker
    with pytest.raises(ConnectFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        async with MqttLink(station_params(tls_broker, foreign.ca)):
            pass


async def test_the_acl_confines_a_station_to_its_own_topics(broker: Mosquitto) -> None:
    async with MqttLink(station_params(broker, None)) as link:
        await link.publish(f"station/{STATION}/events", b"{}", qos=1)
        with pytest.raises(PublishRejected) as info:
            await link.publish("station/S2/records", b"{}", qos=1)
        assert info.value.code == 0x87
    # mosquitto grants the subscription but never delivers another station's messages: the centre
    # sends to S2 first, then to S1; S1's own message arriving first-and-alone proves the other was held.
    got: asyncio.Queue[Incoming] = asyncio.Queue()
    async with MqttLink(station_params(broker, None), got.put_nowait) as link:
        await link.subscribe("station/S2/down", f"station/{STATION}/down")
        async with MqttLink(centre_params(broker)) as centre:
            await centre.publish("station/S2/down", b"not for S1", qos=1)
            await centre.publish(f"station/{STATION}/down", b"for S1", qos=1)
        async with asyncio.timeout(DEADLINE_S):
            first = await got.get()
        assert (first.topic, first.payload) == (f"station/{STATION}/down", b"for S1")


async def test_client_certificate_identity(tmp_path: Path, pki: Pki) -> None:
    tls = TlsFiles(pki.ca, pki.server_cert, pki.server_key, require_certificate=True)
    with Mosquitto(tmp_path / "mq", acl=STATION_ACL, tls=tls) as mq:
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))  # CN = S1
        params = LinkParams(host=mq.host, port=mq.port, client_id=STATION, tls=ctx, connect_timeout_s=5)
        async with MqttLink(params) as link:
            await link.publish(f"station/{STATION}/records", b"{}", qos=1)
            with pytest.raises(PublishRejected):
                await link.publish("station/S2/records", b"{}", qos=1)
        no_cert = LinkParams(
            host=mq.host, port=mq.port, client_id=STATION, tls=ssl.create_default_context(cafile=str(pki.ca))
        )
        with pytest.raises(ConnectFailed):
            async with MqttLink(no_cert):
                pass


async def test_nothing_listening_fails_fast(tmp_path: Path) -> None:
    mq = Mosquitto(tmp_path / "never-started")
    with pytest.raises(ConnectFailed):
        async with MqttLink(LinkParams(host="127.0.0.1", port=mq.port, client_id="x", connect_timeout_s=2)):
            pass
