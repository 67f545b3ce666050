"""Child process of test_lpg_kill: one fill of cylinder OK-1 on scale 1 of LINK, against DB.

python lpg_fill_child.py DB LINK
"""

from __future__ import annotations

import asyncio
import sys

from edge.devices.lpg.scale import Scale
from edge.devices.lpg.service import FillService
from edge.devices.lpg.specs import DEFAULT_SPECS, LpgSettings
from edge.devices.modbus import LinkSettings, ModbusLink
from protocol.scale_maps import DEFAULT_SCALE_MAP
from storage.db import Database


async def main(db_path: str, url: str) -> None:
    db = await Database.open(db_path)
    service = FillService(db, LpgSettings(specs=DEFAULT_SPECS), station="ST1", fill_timeout_s=120)
    await service.recover()
    link = ModbusLink(LinkSettings(url, baud=19200, timeout_s=0.5))
    out = await service.fill("OK-1", Scale("S1", link, 1, DEFAULT_SCALE_MAP), "op1")
    print(out.record, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
