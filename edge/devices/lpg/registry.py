"""Registry imports and exports: a whole file in one transaction, or nothing.

Layer: edge (I/O shell around `csvio`). A refused file raises `BadCylinderFile` after an alarm and an
audit row naming its problems; the registry is untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge.devices.lpg.csvio import dump_csv, parse_csv
from edge.devices.lpg.errors import BadCylinderFile
from edge.devices.lpg.specs import LpgSettings
from storage import lpg
from storage.alarms import Severity, clear_in, raise_in
from storage.audit import Outcome, append_in
from storage.clock import utc_now
from storage.db import Database

__all__ = ["ImportResult", "export_csv", "import_csv"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int


async def import_csv(
    db: Database,
    text: str,
    settings: LpgSettings,
    *,
    actor: str,
    source: str = "import",
    clock: Callable[[], dt.datetime] = utc_now,
) -> ImportResult:
    now = clock()
    try:
        rows = parse_csv(text, settings)
    except BadCylinderFile as exc:
        log.error("%s", exc)
        async with db.transaction() as tx:
            await raise_in(tx, "lpg", "bad_import", Severity.WARNING,
                           f"cylinder file refused ({len(exc.problems)} problems), nothing imported",
                           {"problems": exc.problems[:20], "source": source}, now=now)  # fmt: skip
            await append_in(tx, actor=actor, action="lpg.import", outcome=Outcome.REFUSED, source="lpg",
                            target=source, details={"problems": exc.problems[:20]}, now=now)  # fmt: skip
        raise
    async with db.transaction() as tx:
        added, updated = await lpg.upsert_cylinders_in(tx, rows, source=source, actor=actor, now=now)
        await append_in(tx, actor=actor, action="lpg.import", source="lpg", target=source,
                        details={"added": added, "updated": updated}, now=now)  # fmt: skip
        await clear_in(tx, "lpg", "bad_import", now=now)
    log.info("cylinder registry: %d added, %d updated from %s", added, updated, source)
    return ImportResult(added, updated)


async def export_csv(db: Database) -> str:
    return dump_csv(await lpg.cylinders(db))
