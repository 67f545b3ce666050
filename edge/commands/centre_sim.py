"""`station centre-sim`: the reference centre of uplink/centre.py, for tests and integrators.

    station centre-sim keygen --key centre.pem            # prints the public key for [uplink] centre_keys
    station centre-sim listen --url mqtt://127.0.0.1:1883 --out received.jsonl [--count N]
    station centre-sim publish --url ... --key centre.pem --station S1 --kind prices --version 3 \\
        --payload prices.json [--chunk-bytes 131072]

`listen` prints `centre-sim: subscribed` once its subscriptions are in place (wait for that line
before starting a test) and a JSON summary when it stops (SIGTERM/SIGINT, or `--count` unique
messages received). Credentials: --username/--password (or CENTRE_SIM_PASSWORD), --ca for mqtts://.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from uplink.link import LinkParams

NAME = "centre-sim"
HELP = "Reference centre: consume the uplink (shared subscription, de-duplicated), sign and send documents."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = sub.add_parser("keygen", help="create a centre signing key (PEM) and print its public key")
    keygen.add_argument("--key", required=True, type=Path, help="where to write the private key (PEM)")
    for name, text in (("listen", "consume the fleet's uplink"), ("publish", "sign and send one document")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--url", required=True, help="broker: mqtt://host:port or mqtts://host:port")
        cmd.add_argument("--username", default="centre")
        cmd.add_argument("--password", default=os.environ.get("CENTRE_SIM_PASSWORD"))
        cmd.add_argument("--ca", type=Path, help="CA certificate to pin (mqtts://)")
        cmd.add_argument("--client-id", default="")
    listen = sub.choices["listen"]
    listen.add_argument("--group", default="centre", help="shared subscription group")
    listen.add_argument(
        "--no-share",
        action="store_true",
        help="plain subscriptions (mosquitto does not restore shared ones after a broker restart)",
    )
    listen.add_argument(
        "--out", type=Path, help="append new messages as JSON lines (and read it back on start)"
    )
    listen.add_argument("--count", type=int, default=0, help="stop after this many unique messages")
    listen.add_argument(
        "--count-type",
        default="",
        metavar="TYPE",
        help="count only unique messages of this payload type (e.g. record; the retained status and the "
        "alarms arrive when they will)",
    )
    publish = sub.choices["publish"]
    publish.add_argument("--key", required=True, type=Path, help="centre private key (PEM)")
    publish.add_argument("--station", required=True, help="target station id")
    publish.add_argument(
        "--kind",
        required=True,
        choices=["lists", "prices", "calendar", "config", "grey", "resend", "cylinders", "card_status"],
    )
    publish.add_argument("--version", required=True, type=int)
    publish.add_argument("--payload", required=True, type=Path, help="JSON file with the document's payload")
    publish.add_argument("--chunk-bytes", type=int, default=128 * 1024)


def _params(args: argparse.Namespace, client_id: str) -> LinkParams:
    from uplink.link import LinkParams

    parts = urlsplit(args.url)
    tls = None
    if parts.scheme == "mqtts":
        tls = ssl.create_default_context(cafile=str(args.ca) if args.ca else None)
    return LinkParams(
        host=parts.hostname or "localhost",
        port=parts.port or (8883 if tls else 1883),
        client_id=args.client_id or client_id,
        tls=tls,
        username=args.username if args.password is not None else None,
        password=args.password,
        clean_start=False,
        session_expiry_s=3600,
        receive_maximum=64,
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "keygen":
        return _keygen(args.key)
    if args.action == "listen":
        return asyncio.run(_listen(args))
    return asyncio.run(_publish(args))


def _keygen(path: Path) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from uplink.envelope import private_key_pem, public_key_text

    key = Ed25519PrivateKey.generate()
    path.write_bytes(private_key_pem(key))
    path.chmod(0o600)
    print(public_key_text(key.public_key()))
    return 0


async def _listen(args: argparse.Namespace) -> int:
    from uplink.centre import CentreConsumer

    consumer = CentreConsumer(
        _params(args, f"centre-sim-{args.group}"), group=args.group, out=args.out, shared=not args.no_share
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(consumer.run())
        await consumer.subscribed.wait()
        print("centre-sim: subscribed", flush=True)
        waiter = tg.create_task(stop.wait())
        if args.count:
            def counted() -> bool:
                stats = consumer.stats
                seen = int(stats.by_type[args.count_type] if args.count_type else stats.unique)
                return seen >= int(args.count)

            counter = tg.create_task(consumer.wait_for(counted, 10**9))
            await asyncio.wait({waiter, counter}, return_when=asyncio.FIRST_COMPLETED)
            counter.cancel()
        else:
            await waiter
        waiter.cancel()
        task.cancel()
    print(json.dumps(consumer.stats.as_dict()), flush=True)
    return 0


async def _publish(args: argparse.Namespace) -> int:
    from uplink.centre import build_document, publish_parts
    from uplink.envelope import load_private_key
    from uplink.errors import LinkError
    from uplink.link import MqttLink

    try:
        payload = json.loads(args.payload.read_text(encoding="utf-8"))
        key = load_private_key(args.key)
    except (OSError, ValueError) as exc:
        print(f"centre-sim: {exc}", file=sys.stderr)
        return 2
    parts = build_document(
        key,
        station=args.station,
        kind=args.kind,
        version=args.version,
        payload=payload,
        chunk_bytes=args.chunk_bytes,
    )
    try:
        async with MqttLink(_params(args, "centre-sim-publisher")) as link:
            await publish_parts(link, args.station, parts)
    except LinkError as exc:
        print(f"centre-sim: {exc}", file=sys.stderr)
        return 1
    print(f"centre-sim: {args.kind} v{args.version} sent to {args.station} in {len(parts)} parts", flush=True)
    return 0
