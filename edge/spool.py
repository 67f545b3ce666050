"""The import inbox: how `station lists import` / `station prices import` hand a file to a running daemon.

Layer: edge (file hand-over between the CLI and the daemon). The daemon is the only writer of the list
store (it holds its `flock`) and of the database, so a CLI run beside it validates the file itself
(every problem is reported at once, before anything is handed over) and then spools it:

    CLI                                              daemon (InboxWatcher.run, every INBOX_POLL_S)
    copy FILE → inbox/<id>.payload (tmp, fsync, rename)
    write inbox/<id>.job  (JSON; the commit point) ─▶  sees <id>.job, applies it (atomically: the lists
                                                       swap generation, a price table is stored …)
    wait for inbox/<id>.result ◀──────────────────── writes <id>.result {"ok", "message", "problems"},
    print it, delete it, exit 0 / 2                   deletes <id>.job and <id>.payload

Job types: `lists` (kind, force), `grey`, `calendar`, `prices`. A job the daemon cannot apply changes
nothing and its result lists the problems. When no daemon runs the CLI applies the file itself (it takes
the list store's lock for the duration), with the same code (`Appliers`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final

from edge.errors import EdgeError

__all__ = [
    "INBOX_POLL_S",
    "JOB_TYPES",
    "InboxWatcher",
    "JobOutcome",
    "JobRejected",
    "submit",
    "wait_result",
]

log = logging.getLogger(__name__)

INBOX_POLL_S: Final = 0.5
RESULT_POLL_S: Final = 0.1
JOB_TYPES: Final = ("lists", "grey", "calendar", "prices")
_TMP: Final = ".tmp-"


class JobRejected(EdgeError):
    """A job cannot be applied; `problems` says why (nothing was changed)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


JobOutcome = dict[str, Any]
Applier = Callable[[Path, Mapping[str, Any]], Awaitable[str]]
"""Apply the payload at the path with the job's options; return a one-line summary; raise
`JobRejected` when refused."""


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_TMP, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def submit(inbox: Path, job_type: str, payload: Path, **options: Any) -> str:
    """Spool the file `payload` as a job for the daemon; returns the job id."""
    if job_type not in JOB_TYPES:
        raise ValueError(f"unknown job type {job_type!r}")
    inbox.mkdir(parents=True, exist_ok=True)
    job_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{job_type}-{uuid.uuid4().hex[:8]}"
    fd, tmp = tempfile.mkstemp(prefix=_TMP, dir=inbox)
    try:
        with os.fdopen(fd, "wb") as out, payload.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, inbox / f"{job_id}.payload")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    source = str(options.get("source", payload))
    job = {"id": job_id, "type": job_type, "source": source, "options": options}
    _write_atomic(inbox / f"{job_id}.job", json.dumps(job, sort_keys=True).encode())
    return job_id


def wait_result(inbox: Path, job_id: str, timeout_s: float) -> JobOutcome | None:
    """The daemon's result for a job (the result file is removed), or None after `timeout_s`."""
    path = inbox / f"{job_id}.result"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            outcome: JobOutcome = json.loads(path.read_bytes())
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(RESULT_POLL_S)
            continue
        path.unlink(missing_ok=True)
        return outcome


class InboxWatcher:
    """The daemon side: apply spooled jobs, one at a time, in the order they were submitted."""

    def __init__(self, inbox: Path, appliers: Mapping[str, Applier]) -> None:
        self.inbox = inbox
        self.appliers = dict(appliers)
        self.done = 0

    async def run(self) -> None:
        await asyncio.to_thread(self.inbox.mkdir, parents=True, exist_ok=True)
        while True:
            await self.process_once()
            await asyncio.sleep(INBOX_POLL_S)

    async def process_once(self) -> int:
        """Apply every job waiting now; returns how many were handled."""
        jobs = sorted(self.inbox.glob("*.job")) if self.inbox.is_dir() else []
        for job_path in jobs:
            outcome = await self._apply(job_path)
            job_id = job_path.stem
            await asyncio.to_thread(
                _write_atomic, self.inbox / f"{job_id}.result", json.dumps(outcome, sort_keys=True).encode()
            )
            job_path.unlink(missing_ok=True)
            (self.inbox / f"{job_id}.payload").unlink(missing_ok=True)
            self.done += 1
        return len(jobs)

    async def _apply(self, job_path: Path) -> JobOutcome:
        try:
            job = json.loads(await asyncio.to_thread(job_path.read_bytes))
            job_type = job["type"]
            options = job.get("options", {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "message": "unreadable job", "problems": [f"{job_path.name}: {exc}"]}
        applier = self.appliers.get(job_type)
        if applier is None:
            return {"ok": False, "message": "rejected", "problems": [f"no applier for job type {job_type!r}"]}
        payload = self.inbox / f"{job_path.stem}.payload"
        try:
            message = await applier(payload, options)
        except JobRejected as exc:
            log.warning("import %s (%s) rejected: %s", job_path.stem, job.get("source"), exc)
            return {"ok": False, "message": "rejected", "problems": exc.problems}
        except Exception as exc:  # job supervisor: one bad job must never stop the daemon
            log.exception("import %s (%s) failed", job_path.stem, job.get("source"))
            return {
                "ok": False,
                "message": "failed",
                "problems": [f"{type(exc).__name__}: {exc}"],
                "failed": True,
            }
        log.info("import %s (%s): %s", job_path.stem, job.get("source"), message)
        return {"ok": True, "message": message, "problems": []}
