"""The one record builder of the tests: a transaction record and its 95 wire bytes.

Built from `protocol.record.sample_record()` (or a suite's own template) with the fields a test
changes; the bytes are what the journal stores and the uplink sends.
"""

from __future__ import annotations

import dataclasses

from protocol.record import RECORD_STRUCT, TransactionRecord, sample_record

TEMPLATE = sample_record()


def make_record(
    pos_ttc: int, *, template: TransactionRecord = TEMPLATE, **changes: object
) -> tuple[TransactionRecord, bytes]:
    """A record with this POS_TTC (and any field changed) and its 95 wire bytes."""
    record = dataclasses.replace(template, pos_ttc=pos_ttc, **changes)  # type: ignore[arg-type]
    return record, RECORD_STRUCT.build(record.to_dict())
