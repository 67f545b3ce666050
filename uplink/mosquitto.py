"""A private mosquitto broker for tests, benchmarks and integrators' trials.

Layer: uplink (tooling; not used by the daemon). `Mosquitto(workdir, ...)` writes a configuration,
a password file and an ACL file into `workdir`, starts `/usr/sbin/mosquitto` on a free loopback port
and waits (with a deadline) until it accepts connections; `stop()` ends it with SIGTERM (mosquitto
then saves its persistent sessions, so a restart on the same port resumes them). It never touches a
system broker.

    with Mosquitto(tmp_path, users={"S1": "pw"}, acl=STATION_ACL, tls=TlsFiles(ca, cert, key)) as broker:
        broker.url        # "mqtts://localhost:PORT"

`STATION_ACL` is the ACL of docs/mqtt.md: a station may only write its own uplink topics and read its
own `down` topic; the centre's users read every station and write every `down`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

MOSQUITTO: Final = "/usr/sbin/mosquitto"
START_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 10.0
PBKDF2_ITERATIONS: Final = 101

STATION_ACL: Final = """\
# Stations: the username is the station id (password or certificate CN).
pattern write station/%u/records
pattern write station/%u/events
pattern write station/%u/reply
pattern write station/%u/status
pattern write station/%u/live
pattern read station/%u/down

# The centre's consumers and publishers.
user centre
topic read station/+/records
topic read station/+/events
topic read station/+/reply
topic read station/+/status
topic read station/+/live
topic write station/+/down
"""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    require_certificate: bool = False
    """Clients must present a certificate from `ca`; its CN becomes the username."""


def password_line(user: str, password: str) -> str:
    """One mosquitto password-file line (PBKDF2-SHA512, the `$7$` format of mosquitto_passwd)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return (
        f"{user}:$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        tls: TlsFiles | None = None,
        persistence: bool = True,
        extra: Sequence[str] = (),
        binary: str = MOSQUITTO,
    ) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.users = dict(users or {})
        self.acl = acl
        self.tls = tls
        self.persistence = persistence
        self.extra = tuple(extra)
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "mosquitto.log"

    @property
    def host(self) -> str:
        return "localhost" if self.tls else "127.0.0.1"

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "per_listener_settings false"]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot read workdir
        if self.users:
            pw = self.workdir / "passwords"
            pw.write_text("".join(password_line(u, p) + "\n" for u, p in self.users.items()))
            pw.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        elif not (self.tls and self.tls.require_certificate):
            lines.append("allow_anonymous true")
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca}", f"certfile {self.tls.cert}", f"keyfile {self.tls.key}"]
            lines.append("tls_version tlsv1.2")
            if self.tls.require_certificate:
                lines += ["require_certificate true", "use_identity_as_username true"]
                if not self.users:
                    lines.append("allow_anonymous false")
        if self.acl is not None:
            acl = self.workdir / "acl"
            acl.write_text(self.acl)
            lines.append(f"acl_file {acl}")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1"]
        lines += [
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_dest stderr",
            "log_type all",
            "log_timestamp_format %H:%M:%S",
        ]
        lines += self.extra
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        if shutil.which(self.binary) is None:
            raise FileNotFoundError(f"{self.binary} is not installed (Debian package mosquitto)")
        config = self.write_config()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(
                        f"mosquitto did not listen on {self.port} within {timeout_s} s"
                    ) from None
                time.sleep(0.02)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (sessions are saved) and wait; SIGKILL if it does not end."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL: a broker crash (sessions since the last autosave are lost)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
