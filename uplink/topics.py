"""Every MQTT topic of the contract, built (and parsed) here and nowhere else.

Layer: uplink (pure). All topics are rooted at the station id, so one broker ACL line (`pattern …
station/%u/#`) confines a station to its own subtree and a centre consumes the whole fleet with one
shared subscription per stream (`$share/<group>/station/+/records`)::

    station/{id}/records   up    QoS 1  transaction records (sale, grey, unlock, shift, cash …)  outbox
    station/{id}/events    up    QoS 1  alarms, dispenser online/offline, totals, rule decisions,  outbox
                                        shift handovers
    station/{id}/reply     up    QoS 1  the station's answer to each downlink document             outbox
    station/{id}/status    up    QoS 1  RETAINED online/offline; the offline state is the Will
    station/{id}/live      up    QoS 0  coalesced live nozzle status, not stored
    station/{id}/down      down  QoS 1  signed documents from the centre (in parts)

A station id is letters, digits, `-` and `_` (checked by the daemon's configuration), so it is always
one valid topic level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

ROOT: Final = "station"


class Stream(StrEnum):
    """The last topic level: which stream of a station a message belongs to."""

    RECORDS = "records"
    EVENTS = "events"
    REPLY = "reply"
    STATUS = "status"
    LIVE = "live"
    DOWN = "down"


UPLINK_STREAMS: Final = (Stream.RECORDS, Stream.EVENTS, Stream.REPLY, Stream.STATUS, Stream.LIVE)


def _check_station(station: str) -> str:
    if not station or not all(ch.isalnum() or ch in "-_" for ch in station):
        raise ValueError(f"station id {station!r} is not letters, digits, - and _")
    return station


def topic(station: str, stream: Stream) -> str:
    """The topic of one stream of one station."""
    return f"{ROOT}/{_check_station(station)}/{stream.value}"


def records(station: str) -> str:
    return topic(station, Stream.RECORDS)


def events(station: str) -> str:
    return topic(station, Stream.EVENTS)


def reply(station: str) -> str:
    return topic(station, Stream.REPLY)


def status(station: str) -> str:
    return topic(station, Stream.STATUS)


def live(station: str) -> str:
    return topic(station, Stream.LIVE)


def down(station: str) -> str:
    return topic(station, Stream.DOWN)


def fleet_filter(stream: Stream) -> str:
    """The filter matching one stream of every station (`station/+/records`)."""
    return f"{ROOT}/+/{stream.value}"


def shared_filter(group: str, stream: Stream) -> str:
    """An MQTT 5 shared subscription over the fleet (`$share/<group>/station/+/records`)."""
    if not group or any(ch in group for ch in "/+#"):
        raise ValueError(f"share group {group!r} must be one topic level without wildcards")
    return f"$share/{group}/{fleet_filter(stream)}"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    station: str
    stream: Stream


def parse(name: str) -> ParsedTopic:
    """Split a contract topic into station and stream; ValueError for any other topic."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != ROOT:
        raise ValueError(f"{name!r} is not a station/<id>/<stream> topic")
    try:
        stream = Stream(parts[2])
    except ValueError:
        raise ValueError(f"{name!r}: unknown stream {parts[2]!r}") from None
    return ParsedTopic(_check_station(parts[1]), stream)
