"""`[rules] withhold_lists`: dispensers that cannot be trusted to ask are never offered the blacklists
(version 0 in every 0x30 reply, spec B10), and one that holds blacklists anyway raises an alarm."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.config import ConfigError, load_config
from edge.daemon import Station, open_station
from edge.demo_station import write_demo_config
from edge.rules_config import rules_settings
from edge.session import LISTS_HELD_ALARM, DispenserSession
from protocol.messages import DispenserInfo

LISTS = {
    "base": "kind = base\nversion = 5\n",
    "added": "kind = added\nversion = 3\n",
    "deleted": "kind = deleted\nversion = 2\n",
    "white": "kind = white\nversion = 4\n",
}
DATES = "valid_from = 2024-01-01\nvalid_to = 2099-12-31\narea = 0x11\n\n"


def config_with(tmp_path: Path, rules: str) -> Path:
    path = write_demo_config(tmp_path)
    with path.open("a") as f:
        f.write(f"\n[rules]\n{rules}\n")
    return path


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    st = await open_station(load_config(config_with(tmp_path, 'withhold_lists = ["bus1/3", "p2p1"]')))
    for n, (kind, head) in enumerate(LISTS.items()):
        path = tmp_path / f"{kind}.txt"
        path.write_text(head + DATES + f"1000{'04' if kind == 'white' else '01'}011000000000{n:02d}\n")
        st.lists.import_file(path)
    try:
        yield st
    finally:
        await st.db.close()


def session(station: Station, line: str, pos_p: int) -> DispenserSession:
    return next(s for s in station.sessions[line] if s.pos_p == pos_p)


def info(bl_ver: int, add_bl_ver: int = 0, del_bl_ver: int = 0) -> DispenserInfo:
    return DispenserInfo(
        "SIM", "11", "01", "00000001", "00000042", dt.datetime(2026, 1, 1), (1, 2),
        bl_ver=bl_ver, add_bl_ver=add_bl_ver, del_bl_ver=del_bl_ver, wh_ver=4,
    )  # fmt: skip


async def test_withheld_dispensers_are_offered_no_blacklist(station: Station) -> None:
    trusted = session(station, "bus1", 1).poll_reply()
    assert (trusted.bl_ver, trusted.add_bl_ver, trusted.del_bl_ver, trusted.wh_ver) == (5, 3, 2, 4)
    for line, pos_p in (("bus1", 3), ("p2p1", 4)):  # a dispenser, and a whole line
        held_back = session(station, line, pos_p).poll_reply()
        assert (held_back.bl_ver, held_back.add_bl_ver, held_back.del_bl_ver) == (0, 0, 0)
        assert held_back.wh_ver == 4 and held_back.prc_ver == trusted.prc_ver  # the rest is offered


async def test_a_withheld_dispenser_holding_blacklists_raises_an_alarm(station: Station) -> None:
    await session(station, "bus1", 1).handle(info(5, 3, 2))  # trusted: holding them is right
    await session(station, "bus1", 3).handle(info(5, 3, 2))
    [alarm] = await station.alarms.active()
    assert (alarm.source, alarm.code, alarm.severity.value) == ("bus1/3", LISTS_HELD_ALARM, "critical")
    assert "5/3/2" in alarm.message
    await session(station, "bus1", 3).handle(info(0))  # its lists were cleared
    assert await station.alarms.active() == []


def test_require_cng_profile_withholds_from_every_dispenser(tmp_path: Path) -> None:
    settings = rules_settings(load_config(config_with(tmp_path, "require_cng_profile = true")))
    assert settings.withholds("bus1", 1) and settings.withholds("p2p1", 4)
    assert not rules_settings(load_config(config_with(tmp_path / "b", ""))).withholds("bus1", 1)


def test_withholding_from_an_unknown_dispenser_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        rules_settings(load_config(config_with(tmp_path, 'withhold_lists = ["bus1/9", "bus7", 3]')))
    assert err.value.problems == [
        'station.toml: rules.withhold_lists: must be a list of line names or "line/POS-P", got '
        "['bus1/9', 'bus7', 3]"
    ]
    with pytest.raises(ConfigError) as err:
        rules_settings(load_config(config_with(tmp_path / "b", 'withhold_lists = ["bus1/9", "bus7"]')))
    assert err.value.problems == [
        "station.toml: rules.withhold_lists: 'bus1/9' is not a configured line or dispenser",
        "station.toml: rules.withhold_lists: 'bus7' is not a configured line or dispenser",
    ]
