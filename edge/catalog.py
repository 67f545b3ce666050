"""What dispensers download (CONTENT 0..5) and the versions advertised in every 0x30 reply.

Layer: edge (pure assembly of stored data; no I/O). Lists come from the durable list store (one snapshot
per answer); the price table from the price scheduler (`edge.prices.PriceScheduler.advertised`: the
table in force, `current` = the prices before it, `new` = its prices), or, without one, from the
configuration as version 1; station info from the configuration. Each dispenser gets station info with
its own POS_P and nozzles. Built price bytes are cached per table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from edge.config import Config
from edge.session import Versions
from protocol.downloads import PriceRecord, PriceTable, StationInfo
from protocol.messages import Content
from storage.lists import ListStore

DEFAULT_DENSITY = 0
CONFIG_PRICE_VERSION = 1
CONFIG_STATION_VERSION = 1
CONFIG_PRICE_EFFECTIVE = dt.datetime(2000, 1, 1)
"""EFFECTIVE of the configuration's price table: fixed, so its bytes do not change across restarts."""


def price_table_from_config(config: Config, version: int, effective: dt.datetime) -> PriceTable:
    """All nozzles of the station with their product's price levels; `new` equals `current`."""
    records = []
    for line in config.lines:
        for disp in line.dispensers:
            for nozzle in disp.nozzles:
                product = config.product(nozzle.g_code)
                prices = product.prices if product and product.prices else (0,)
                records.append(PriceRecord(nozzle.nzn, nozzle.g_code, DEFAULT_DENSITY, tuple(prices)))
    records.sort(key=lambda r: r.nzn)
    table = tuple(records)
    return PriceTable(
        version=version, effective=effective.replace(second=0, microsecond=0), current=table, new=table
    )


class Catalog:
    """Implements `edge.session.DownloadCatalog` over the list store and the configuration."""

    def __init__(
        self,
        config: Config,
        lists: ListStore,
        price_table: Callable[[], PriceTable] | None = None,
    ) -> None:
        self.config = config
        self.lists = lists
        config_table = price_table_from_config(config, CONFIG_PRICE_VERSION, CONFIG_PRICE_EFFECTIVE)
        self._price_table = price_table or (lambda: config_table)
        self._price_bytes: tuple[PriceTable, bytes] | None = None
        self._station_infos: dict[int, bytes] = {}
        for line in config.lines:
            for disp in line.dispensers:
                st = config.station
                info = StationInfo(
                    version=CONFIG_STATION_VERSION,
                    prov=st.province,
                    city=st.city,
                    superior=st.superior,
                    s_id=st.s_id,
                    pos_p=disp.pos_p,
                    nozzles=tuple(n.nzn for n in disp.nozzles),
                )
                self._station_infos[disp.pos_p] = info.build()

    def versions(self) -> Versions:
        lv = self.lists.current.versions
        return Versions(
            bl_ver=lv.bl_ver,
            add_bl_ver=lv.add_bl_ver,
            del_bl_ver=lv.del_bl_ver,
            wh_ver=lv.wh_ver,
            prc_ver=self._price_table().version & 0xFF,
            sta_ver=CONFIG_STATION_VERSION,
        )

    def content(self, content: int, pos_p: int) -> bytes | None:
        if content in (
            Content.BASE_BLACKLIST,
            Content.ADDED_BLACKLIST,
            Content.DELETED_BLACKLIST,
            Content.WHITE_LIST,
        ):
            return self.lists.current.download_bytes(content) or None
        if content == Content.PRICE_TABLE:
            table = self._price_table()
            cached = self._price_bytes
            if cached is None or cached[0] is not table:
                cached = (table, table.build())
                self._price_bytes = cached
            return cached[1]
        if content == Content.STATION_INFO:
            return self._station_infos.get(pos_p)
        return None
