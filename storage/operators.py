"""Operators: user name, role, password hash, second-factor card, failed logins and lockout.

Layer: storage. Rows only: hashing and checking passwords is `edge.auth.passwords`, deciding who may
do what is `edge.auth.roles`. Every change has an `*_in(tx, …)` form so the caller can write it in the
same transaction as its audit row (`storage.audit.append_in`).

Lockout: `failed_logins` counts consecutive failures; `record_failure_in` locks the operator
(`locked_at`) when the count reaches the caller's limit; a successful login resets the count;
`unlock_in` resets both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from protocol.i18n import UnknownLanguage, normalise
from storage.clock import Clock, iso_instant, parse_instant, utc_now
from storage.db import Database, Tx
from storage.errors import StorageError

ROLES = ("vendor", "admin", "senior", "operator", "readonly")


class OperatorError(StorageError):
    """An operator operation that cannot be done (unknown name, duplicate name, bad role)."""

    def __init__(self, message: str, username: str = "") -> None:
        super().__init__(message)
        self.username = username


@dataclass(frozen=True, slots=True)
class OperatorRow:
    id: int
    username: str
    display_name: str
    role: str
    password_hash: str
    card_asn: str | None
    failed_logins: int
    locked_at: dt.datetime | None
    lock_reason: str
    demo: bool
    created_at: dt.datetime
    password_changed_at: dt.datetime
    last_login_at: dt.datetime | None
    language: str = ""
    """The operator's own language (`zh_CN`, `en`); '' = the station's."""

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


def _row(row: Any) -> OperatorRow:
    return OperatorRow(
        id=int(row["id"]),
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        password_hash=row["password_hash"],
        card_asn=row["card_asn"],
        failed_logins=int(row["failed_logins"]),
        locked_at=parse_instant(row["locked_at"]) if row["locked_at"] else None,
        lock_reason=row["lock_reason"],
        demo=bool(row["demo"]),
        created_at=parse_instant(row["created_at"]),
        password_changed_at=parse_instant(row["password_changed_at"]),
        last_login_at=parse_instant(row["last_login_at"]) if row["last_login_at"] else None,
        language=row["language"],
    )


def _check_username(username: str) -> str:
    name = username.strip()
    if not 1 <= len(name) <= 32 or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise OperatorError(f"user name {username!r}: 1 to 32 letters, digits, '.', '_' or '-'", username)
    return name


def _check_language(language: str) -> str:
    if language == "":
        return language
    try:
        return normalise(language)
    except UnknownLanguage as exc:
        raise OperatorError(str(exc)) from None


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise OperatorError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


async def get_in(tx: Tx, username: str) -> OperatorRow | None:
    row = await tx.fetchone("SELECT * FROM operators WHERE username = ?", (username,))
    return None if row is None else _row(row)


async def add_in(
    tx: Tx,
    username: str,
    role: str,
    password_hash: str,
    *,
    now: dt.datetime,
    display_name: str = "",
    card_asn: str | None = None,
    demo: bool = False,
    language: str = "",
) -> OperatorRow:
    name = _check_username(username)
    _check_role(role)
    language = _check_language(language)
    if await get_in(tx, name) is not None:
        raise OperatorError(f"operator {name!r} already exists", name)
    stamp = iso_instant(now)
    row = await tx.one(
        "INSERT INTO operators (username, display_name, role, password_hash, card_asn, demo, created_at,"
        " password_changed_at, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (name, display_name, role, password_hash, card_asn or None, int(demo), stamp, stamp, language),
    )
    return _row(row)


async def set_language_in(tx: Tx, username: str, language: str) -> str:
    """Set the operator's own language ('' = the station's); returns it normalised (`zh` → `zh_CN`)."""
    language = _check_language(language)
    rows = await tx.execute(
        "UPDATE operators SET language = ? WHERE username = ? RETURNING id", (language, username)
    )
    if not rows:
        raise OperatorError(f"no operator {username!r}", username)
    return language


async def set_password_in(tx: Tx, username: str, password_hash: str, *, now: dt.datetime) -> None:
    rows = await tx.execute(
        "UPDATE operators SET password_hash = ?, password_changed_at = ? WHERE username = ? RETURNING id",
        (password_hash, iso_instant(now), username),
    )
    if not rows:
        raise OperatorError(f"no operator {username!r}", username)


async def lock_in(tx: Tx, username: str, reason: str, *, now: dt.datetime) -> bool:
    """Lock the operator; False if already locked. Raises `OperatorError` for an unknown name."""
    op = await get_in(tx, username)
    if op is None:
        raise OperatorError(f"no operator {username!r}", username)
    if op.locked:
        return False
    await tx.execute(
        "UPDATE operators SET locked_at = ?, lock_reason = ? WHERE id = ?", (iso_instant(now), reason, op.id)
    )
    return True


async def unlock_in(tx: Tx, username: str) -> bool:
    """Unlock and reset the failure count; False if it was not locked."""
    op = await get_in(tx, username)
    if op is None:
        raise OperatorError(f"no operator {username!r}", username)
    await tx.execute(
        "UPDATE operators SET locked_at = NULL, lock_reason = '', failed_logins = 0 WHERE id = ?", (op.id,)
    )
    return op.locked


async def record_failure_in(
    tx: Tx, username: str, max_failures: int, *, now: dt.datetime
) -> tuple[int, bool]:
    """Count one failed login; lock at `max_failures`. Returns (failures, locked just now)."""
    row = await tx.fetchone(
        "UPDATE operators SET failed_logins = failed_logins + 1 WHERE username = ? "
        "RETURNING failed_logins, locked_at",
        (username,),
    )
    if row is None:
        raise OperatorError(f"no operator {username!r}", username)
    failures = int(row[0])
    if failures >= max_failures and row[1] is None:
        await tx.execute(
            "UPDATE operators SET locked_at = ?, lock_reason = ? WHERE username = ?",
            (iso_instant(now), f"{failures} failed logins", username),
        )
        return failures, True
    return failures, False


async def record_success_in(tx: Tx, username: str, *, now: dt.datetime) -> None:
    await tx.execute(
        "UPDATE operators SET failed_logins = 0, last_login_at = ? WHERE username = ?",
        (iso_instant(now), username),
    )


class OperatorStore:
    """Standalone reads and writes of operators (each write its own transaction)."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def get(self, username: str) -> OperatorRow | None:
        row = await self.db.fetchone("SELECT * FROM operators WHERE username = ?", (username,))
        return None if row is None else _row(row)

    async def all(self) -> list[OperatorRow]:
        rows = await self.db.fetchall("SELECT * FROM operators ORDER BY username")
        return [_row(r) for r in rows]

    async def count(self) -> int:
        row = await self.db.fetchone("SELECT count(*) FROM operators WHERE demo = 0")
        return 0 if row is None else int(row[0])
