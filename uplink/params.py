"""From `UplinkSettings` to the parameters of one MQTT connection: TLS, credentials, session, Will.

Layer: uplink (pure apart from reading the certificate files into the TLS context). The TLS context
trusts ONLY `ca_file` (no system roots: the broker is pinned to the centre's CA), requires TLS 1.2 or
newer and checks the broker's host name against its certificate. The Will is the retained offline
status, so the centre sees a station drop within 1.5 × keepalive of it losing the connection.
"""

from __future__ import annotations

import ssl

from uplink.config import UplinkSettings
from uplink.link import LinkParams, Will

RECEIVE_MAXIMUM = 16
"""Downlink messages the broker may have in flight to the station (back-pressure on chunked docs)."""
PACKET_LIMIT_FACTOR = 4
"""The broker drops downlink packets above max_part_bytes × this; between the two we audit them."""


def ssl_context(settings: UplinkSettings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(settings.ca_file))
    if settings.cert_file is not None:
        ctx.load_cert_chain(str(settings.cert_file), str(settings.key_file) if settings.key_file else None)
    return ctx


def link_params(settings: UplinkSettings, will: Will | None, tls: ssl.SSLContext | None) -> LinkParams:
    return LinkParams(
        host=settings.host,
        port=settings.port,
        client_id=settings.client_id,
        tls=tls,
        username=settings.username if settings.password is not None else None,
        password=settings.password,
        keepalive_s=settings.keepalive_s,
        connect_timeout_s=settings.connect_timeout_s,
        clean_start=False,
        session_expiry_s=settings.session_expiry_s,
        receive_maximum=RECEIVE_MAXIMUM,
        maximum_packet_size=settings.max_part_bytes * PACKET_LIMIT_FACTOR,
        will=will,
    )
