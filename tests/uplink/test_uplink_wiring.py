"""The daemon wiring: a real `Station` from `edge.daemon.open_station` with the uplink as its centre link."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from uplink_helpers import STATION, STATION_PASSWORD, make_record

from edge.config import ConfigError, parse_config
from edge.daemon import open_station
from uplink.errors import UplinkConfigError
from uplink.service import Uplink
from uplink.wiring import check_uplink_config, validate_uplink


def config_doc(tmp_path: Path, uplink: dict[str, object] | None) -> dict[str, object]:
    doc: dict[str, object] = {
        "station": {"id": STATION},
        "storage": {"database": str(tmp_path / "station.db")},
        "products": [{"g_code": "0102", "name": "92#", "prices": [745]}],
        "lines": [
            {
                "name": "bus1",
                "url": str(tmp_path / "tty-none"),
                "mode": "multi-drop",
                "dispensers": [{"pos_p": 1, "nozzles": [{"nzn": 1, "g_code": "0102"}]}],
            }
        ],
    }
    if uplink is not None:
        doc["uplink"] = uplink
    return doc


async def test_install_uplink_on_a_real_station(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(STATION_PASSWORD)
    table = {"url": "mqtt://127.0.0.1:1", "allow_plaintext": True, "password_file": "pw"}
    config = parse_config(config_doc(tmp_path, table), tmp_path / "station.toml")
    station = await open_station(config)
    try:
        uplinks = [c for c in station.components if isinstance(c, Uplink)]
        assert len(uplinks) == 1 and station.centre is uplinks[0]
        uplink = uplinks[0]
        # The session's outbox messages commit with the record, as the session calls it.
        record, raw = make_record(1)
        hook = station.services.outbox_for_record
        assert hook is not None
        await station.journal.store_record(
            "bus1", 1, record, raw, received_at=dt.datetime.now(dt.UTC), outbox=hook("bus1", 1, record, raw)
        )
        assert await uplink.outbox.depth() == 1
    finally:
        await station.db.close()


async def test_no_table_no_uplink_and_bad_tables_fail_at_start(tmp_path: Path) -> None:
    config = parse_config(config_doc(tmp_path, None), tmp_path / "station.toml")
    assert check_uplink_config(config) is None
    station = await open_station(config)
    try:
        assert not any(isinstance(c, Uplink) for c in station.components)
        assert (await station.centre.view())["state"] == "not configured"
    finally:
        await station.db.close()
    bad = parse_config(config_doc(tmp_path, {"url": "ftp://x", "window": -1}), tmp_path / "station.toml")
    with pytest.raises(UplinkConfigError) as info:
        check_uplink_config(bad)
    assert any(p.startswith("station.toml: uplink.url:") for p in info.value.problems)
    assert any(p.startswith("station.toml: uplink.window:") for p in info.value.problems)
    with pytest.raises(ConfigError) as as_daemon_error:
        validate_uplink(bad)
    assert as_daemon_error.value.problems == info.value.problems
