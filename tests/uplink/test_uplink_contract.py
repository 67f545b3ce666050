"""The message contract: topics, payload round trips, idempotency keys, the decoder's checks."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from uplink_helpers import STATION, make_record

from uplink import payloads as p
from uplink import topics
from uplink.errors import PayloadError
from uplink.messages import MessageFactory, RecordUplink, decode_raw_record

station_ids = st.text(alphabet="abcXYZ019-_", min_size=1, max_size=12)
texts = st.text(max_size=20)
ints = st.integers(min_value=0, max_value=2**40)
json_scalars = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=10)
details = st.dictionaries(st.text(max_size=8), json_scalars, max_size=4)


def strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    overrides: dict[str, st.SearchStrategy[Any]] = {"station": station_ids}
    for f in dataclasses.fields(cls):
        if f.name in ("details", "summary"):
            overrides[f.name] = details
        elif f.name == "nozzles":
            item = (
                st.builds(p.LiveNozzle, dispenser=ints, nzn=ints)
                if cls is p.LivePayload
                else st.builds(p.NozzleTotalItem, nzn=ints, v_tot=ints)
            )
            overrides[f.name] = st.lists(item, max_size=3).map(tuple)
    return st.builds(cls, **overrides)


ALL_PAYLOADS = st.one_of([strategy(cls) for cls in p.PAYLOAD_TYPES.values()])


@given(ALL_PAYLOADS)
def test_every_payload_round_trips(payload: p.Payload) -> None:
    data = p.encode(payload)
    assert p.decode(data) == payload
    obj = json.loads(data)
    assert obj["v"] == p.SCHEMA_VERSION and obj["type"] == payload.TYPE and obj["key"] == payload.key
    assert p.encode(p.decode(data)) == data  # canonical: the same bytes again


@given(station_ids, st.sampled_from(topics.Stream))
def test_topics_round_trip(station: str, stream: topics.Stream) -> None:
    name = topics.topic(station, stream)
    assert name == f"station/{station}/{stream.value}"
    assert topics.parse(name) == topics.ParsedTopic(station, stream)


def test_topic_helpers_and_refusals() -> None:
    assert topics.shared_filter("centre", topics.Stream.RECORDS) == "$share/centre/station/+/records"
    assert topics.down("S1") == "station/S1/down"
    for bad in ("S/1", "S+", "#", ""):
        with pytest.raises(ValueError):
            topics.records(bad)
    for bad in ("station/S1", "other/S1/records", "station/S1/nope", "station/S1/records/x"):
        with pytest.raises(ValueError):
            topics.parse(bad)


def test_record_message_is_a_pure_function_of_the_raw_bytes() -> None:
    factory = MessageFactory(STATION)
    record, raw = make_record(1207, t_type=0x05)
    first = RecordUplink(factory)("bus 1", 3, record, raw)[0]
    again = factory.record_from_raw("bus 1", 3, raw)  # as a re-send builds it from the journal
    assert first == again
    assert first.topic == "station/S1/records"
    assert first.key == "rec:S1:bus%201:3:1207"
    payload = p.decode(first.payload)
    assert isinstance(payload, p.RecordPayload)
    assert payload.kind == "on_duty" and bytes.fromhex(payload.raw) == raw
    assert decode_raw_record(raw) == record


def test_a_conflict_copy_has_its_own_key() -> None:
    factory = MessageFactory(STATION)
    record, raw = make_record(5)
    other, other_raw = make_record(5, amn=999)
    original = factory.record("bus1", 1, record, raw)
    copy = factory.record("bus1", 1, other, other_raw, conflict=True)
    assert copy.key.startswith(original.key + ":c:") and copy.key != original.key


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda o: o.update(v=2), "schema version"),
        (lambda o: o.update(type="firmware"), "unknown message type"),
        (lambda o: o.update(pos_ttc="7"), "pos_ttc: must be an integer"),
        (lambda o: o.pop("line"), "line: missing"),
        (lambda o: o.update(key="rec:S1:bus1:3:8"), "does not match"),
        (lambda o: o.update(conflict=1), "conflict: must be true or false"),
    ],
)
def test_the_decoder_refuses_what_breaks_the_contract(mutate: Any, match: str) -> None:
    record, raw = make_record(7)
    obj = json.loads(MessageFactory(STATION).record("bus1", 3, record, raw).payload)
    mutate(obj)
    with pytest.raises(PayloadError, match=match):
        p.decode(json.dumps(obj).encode())


def test_the_decoder_ignores_unknown_fields_and_refuses_non_json() -> None:
    record, raw = make_record(7)
    obj = json.loads(MessageFactory(STATION).record("bus1", 3, record, raw).payload)
    obj["added_in_a_later_minor_version"] = True
    assert isinstance(p.decode(json.dumps(obj).encode()), p.RecordPayload)
    for junk in (b"", b"\xff\xfe", b"[1]", b"null"):
        with pytest.raises(PayloadError):
            p.decode(junk)
