"""Operator password hashes: scrypt (RFC 7914) from the standard library, one random salt per hash.

Layer: edge (pure functions; CPU- and memory-heavy: the daemon runs them in a worker thread).

Stored form (text, self-describing so the parameters can be raised later without breaking old hashes):

    scrypt$<log2 N>$<r>$<p>$<salt, base64, 16 bytes>$<key, base64, 32 bytes>

Default parameters: N = 2^14, r = 8, p = 1 → 16 MiB of memory and some 30-100 ms per check on the
station box; a 16-byte salt from `secrets`; a 32-byte derived key compared in constant time.
The password is NFC-normalised UTF-8.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

from edge.errors import EdgeError

SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_CHARS = 6
MAX_PASSWORD_CHARS = 256


@dataclass(frozen=True, slots=True)
class ScryptParams:
    log2_n: int = 14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.r * (1 << self.log2_n) * 2 + 1024 * 1024


DEFAULT_PARAMS = ScryptParams()


class PasswordPolicyError(EdgeError, ValueError):
    """A new password that is not acceptable."""


def check_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordPolicyError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordPolicyError(f"a password has at most {MAX_PASSWORD_CHARS} characters")


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    data = unicodedata.normalize("NFC", password).encode()
    return hashlib.scrypt(
        data, salt=salt, n=1 << params.log2_n, r=params.r, p=params.p, dklen=KEY_BYTES, maxmem=params.maxmem
    )


def hash_password(password: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, params)
    b64 = base64.b64encode
    return f"scrypt${params.log2_n}${params.r}${params.p}${b64(salt).decode()}${b64(key).decode()}"


def unusable_hash() -> str:
    """A hash no password matches (the demo operator, disabled accounts)."""
    return "!disabled"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash; False for any malformed or disabled hash."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        _derive(password, b"\0" * SALT_BYTES, DEFAULT_PARAMS)  # same cost either way
        return False
    try:
        params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
        if not (1 <= params.log2_n <= 20 and 1 <= params.r <= 32 and 1 <= params.p <= 16):
            return False
        candidate = _derive(password, salt, params)
    except ValueError:
        return False
    return hmac.compare_digest(candidate, key)


def dummy_verify(password: str) -> None:
    """Spend the time of one check (an unknown user name must not answer faster than a known one)."""
    _derive(password, b"\0" * SALT_BYTES, DEFAULT_PARAMS)
