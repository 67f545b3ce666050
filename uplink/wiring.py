"""The uplink's configuration and appliers as the daemon's component needs them.

Layer: uplink (wiring only). `check_uplink_config` validates `[uplink]` (raising `UplinkConfigError`
with every problem); `validate_uplink(config)` is the same validation raising the daemon's `ConfigError`
(what the component kind, `uplink.component.UPLINK`, and `station run --check` use).
`default_appliers` are the downlink's appliers: lists, re-send requests, plus the rules' documents.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.config import Config, ConfigError
from storage.lists import ListStore
from uplink.appliers import Applier, Appliers, ListsApplier
from uplink.config import UplinkSettings, parse_uplink
from uplink.envelope import DocKind
from uplink.errors import UplinkConfigError
from uplink.resend import Resender
from uplink.service import Uplink


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
