"""Fixtures of the storage tests: a real database file per test, an injected clock, record factories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_testkit import FakeClock, MakeRecord, make_record

from storage.db import Database
from storage.journal import Journal


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "station.db"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(db: Database, clock: FakeClock) -> Journal:
    return Journal(db, clock=clock)


@pytest.fixture
def record() -> MakeRecord:
    return make_record
