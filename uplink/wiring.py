"""Plugging the uplink into the daemon: config → `Uplink`, the record hook, the extra task.

Layer: uplink (wiring only). In `edge.daemon.open_station`, after the `Station` is built:

    from uplink.wiring import install_uplink
    station.uplink = install_uplink(station)        # None when there is no [uplink] table

`install_uplink` validates `[uplink]` (raising `UplinkConfigError` with every problem), creates the
`Uplink`, sets `services.outbox_for_record` (records and their uplink message commit together) and
appends the uplink's task to `station.extra_tasks`. `validate_uplink(config)` is the same validation
for `station run --check` (it raises the daemon's `ConfigError`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from edge.config import Config, ConfigError
from edge.events import EventBus
from storage.db import Database
from storage.lists import ListStore
from uplink.appliers import Applier, Appliers, ListsApplier
from uplink.config import UplinkSettings, parse_uplink
from uplink.envelope import DocKind
from uplink.errors import UplinkConfigError
from uplink.monitor import AlarmSink
from uplink.resend import Resender
from uplink.service import Uplink


class StationLike(Protocol):
    """What `install_uplink` needs of `edge.daemon.Station`."""

    config: Config
    db: Database
    lists: ListStore
    bus: EventBus
    services: Any
    extra_tasks: list[Any]
    """`edge.daemon.Station.extra_tasks`: coroutine functions of the station the daemon runs."""


def check_uplink_config(config: Config) -> UplinkSettings | None:
    """Validate `[uplink]` of a loaded configuration; raises `UplinkConfigError`."""
    return parse_uplink(
        config.extra.get("uplink"),
        station_id=config.station.id,
        source=config.path.name,
        base=config.path.parent,
    )


def validate_uplink(config: Config) -> UplinkSettings | None:
    """`check_uplink_config` raising the daemon's `ConfigError` (for `station run`'s validators list)."""
    try:
        return check_uplink_config(config)
    except UplinkConfigError as exc:
        raise ConfigError(exc.problems) from exc


def default_appliers(
    lists: ListStore | None, extra: dict[DocKind, Applier] | None = None
) -> Callable[[Uplink], Appliers]:
    """Lists into the list store, re-send requests into the outbox, plus `extra` (e.g. prices)."""

    def build(uplink: Uplink) -> Appliers:
        appliers: dict[DocKind, Applier] = {
            DocKind.RESEND: Resender(
                uplink.store,
                uplink.factory,
                max_records=uplink.settings.resend_max_records,
                on_queued=uplink.pump.wake,
            )
        }
        if lists is not None:
            appliers[DocKind.LISTS] = ListsApplier(lists)
        appliers.update(extra or {})
        return appliers

    return build


def install_uplink(
    station: StationLike, *, extra_appliers: dict[DocKind, Applier] | None = None, software: str = ""
) -> Uplink | None:
    settings = check_uplink_config(station.config)
    if settings is None or not settings.enabled:
        return None
    alarms: AlarmSink | None = getattr(station.services, "alarms", None)
    uplink = Uplink(
        settings,
        station.config.station.id,
        station.db,
        appliers=default_appliers(station.lists, extra_appliers),
        bus=station.bus,
        alarms=alarms,
        software=software,
    )
    station.services.outbox_for_record = uplink.record_hook
    station.extra_tasks.append(uplink.task)
    return uplink
