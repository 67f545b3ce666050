"""Signed cylinder-registry additions from the centre (downlink document kind `cylinders`).

Layer: uplink (adapter between the downlink appliers and the LPG registry import in `edge.devices.lpg`).
The downlink has verified the signature, version and schema; the CSV is checked completely here and applied all or nothing: a bad
file raises `ApplyError` (the downlink audits and answers the refusal), with the registry unchanged.
"""

from __future__ import annotations

from edge.config import Config
from edge.devices.lpg.errors import BadCylinderFile
from edge.devices.lpg.registry import import_csv
from edge.devices.lpg.specs import LpgSettings, parse_settings
from storage.db import Database
from storage.errors import StorageError
from uplink.appliers import Applier
from uplink.documents import CylindersDocument, Document
from uplink.envelope import DocKind
from uplink.errors import ApplyError

__all__ = ["CylindersApplier", "lpg_appliers"]


class CylindersApplier:
    def __init__(self, db: Database, settings: LpgSettings) -> None:
        self.db = db
        self.settings = settings

    async def __call__(self, doc: Document) -> str | None:
        content = doc.content
        if not isinstance(content, CylindersDocument):
            raise ApplyError("not a cylinders document")
        try:
            result = await import_csv(self.db, content.csv, self.settings, actor="centre",
                                      source=f"centre document {doc.id[:12]}")  # fmt: skip
        except BadCylinderFile as exc:
            raise ApplyError("; ".join(exc.problems[:5])) from exc
        except StorageError as exc:
            raise ApplyError(str(exc)) from exc
        return f"cylinder registry: {result.added} added, {result.updated} updated"


def lpg_appliers(config: Config, db: Database) -> dict[DocKind, Applier]:
    """The `cylinders` applier at a station with an `[lpg]` table (none otherwise)."""
    table = config.extra.get("lpg")
    if table is None:
        return {}
    return {DocKind.CYLINDERS: CylindersApplier(db, parse_settings(table))}
