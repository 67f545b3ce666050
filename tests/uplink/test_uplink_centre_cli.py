"""`station centre-sim` as a subprocess (how the full-system tests use it): keygen, listen, publish."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

from uplink_helpers import CENTRE_PASSWORD, DEADLINE_S, STATION, make_record, running, settings_for, until

from storage.db import Database
from storage.journal import Journal
from uplink.docstore import CentreDocuments
from uplink.envelope import DocKind
from uplink.mosquitto import Mosquitto
from uplink.service import Uplink


async def station_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge.cli",
        "centre-sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    async with asyncio.timeout(DEADLINE_S):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_centre_sim_keygen_listen_and_publish(broker: Mosquitto, db: Database, tmp_path: Path) -> None:
    key = tmp_path / "centre.pem"
    code, out, _ = await finish(await station_cli("keygen", "--key", str(key)))
    assert code == 0 and key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    public = out.strip()

    uplink = Uplink(settings_for(broker, tmp_path, centre_keys=[public]), STATION, db)
    journal = Journal(db)
    received = tmp_path / "received.jsonl"
    creds = ("--url", broker.url, "--username", "centre", "--password", CENTRE_PASSWORD)
    listener = await station_cli(
        "listen", *creds, "--out", str(received), "--count", "10", "--count-type", "record"
    )
    try:
        assert listener.stdout is not None
        async with asyncio.timeout(DEADLINE_S):
            assert (await listener.stdout.readline()).decode().strip() == "centre-sim: subscribed"
        async with running(uplink):
            for pos in range(1, 11):
                record, raw = make_record(pos)
                await journal.store_record(
                    "bus1",
                    2,
                    record,
                    raw,
                    received_at=dt.datetime.now(dt.UTC),
                    outbox=uplink.record_hook("bus1", 2, record, raw),
                )
            code, out, err = await finish(listener)
            assert code == 0, err
            summary = json.loads(out.strip().splitlines()[-1])
            assert summary["by_type"]["record"] == 10 and summary["invalid"] == 0
            lines = [json.loads(line) for line in received.read_text().splitlines()]
            assert [
                line["payload"]["pos_ttc"] for line in lines if line["payload"]["type"] == "record"
            ] == list(range(1, 11))

            payload = tmp_path / "prices.json"
            payload.write_text(
                json.dumps(
                    {"effective_at": "2024-05-01T00:00", "products": [{"g_code": "0102", "prices": [745]}]}
                )
            )
            code, out, err = await finish(
                await station_cli(
                    "publish",
                    *creds,
                    "--key",
                    str(key),
                    "--station",
                    STATION,
                    "--kind",
                    "prices",
                    "--version",
                    "4",
                    "--payload",
                    str(payload),
                    "--chunk-bytes",
                    "64",
                )
            )
            assert code == 0, err
            assert "prices v4 sent to S1" in out
            docs = CentreDocuments(uplink.store)
            await until(lambda: uplink.downlink.stats.applied >= 1, what="the signed prices applied")
            assert await docs.version(DocKind.PRICES) == 4
            prices = await docs.prices_in_force(dt.datetime(2024, 6, 1))
            assert prices is not None and prices.products[0].prices == (745,)
    finally:
        if listener.returncode is None:
            listener.kill()
            await listener.wait()
