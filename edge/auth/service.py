"""Operator login, lockout, the employee-card second factor and sessions.

Layer: edge (service over `storage.operators` and `storage.audit`). Used by the control server.

    login(user, password) ──wrong──▶ failed_logins += 1 ──3rd──▶ locked (audited) ─▶ LoginRefused
            │ right, no card configured ───────────────────────────────────────────▶ Session
            │ right, card configured, card seen at a nozzle in the last window ─────▶ Session
            └ right, card configured ─▶ Challenge ─┬ answer_card(asn) typed/scanned ─▶ Session
                                                   ├ card_presented(asn) at a nozzle ─▶ Session
                                                   └ window over ─────────────────────▶ LoginRefused
A wrong card counts as a failed login. Passwords are checked in a worker thread, one at a time (scrypt
takes 16 MiB and tens of milliseconds; the event loop never waits for it). Sessions live in memory:
a daemon restart logs everybody out; an idle session expires after `session_idle_s`. Every login,
failure, lockout and logout is audited.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from edge.auth import passwords
from edge.auth.roles import permissions_of
from edge.control.messages import ErrorCode, Role
from edge.errors import EdgeError
from storage import operators as ops
from storage.audit import Outcome, append_in
from storage.clock import Clock, utc_now
from storage.db import Database

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 3
CARD_WINDOW_S = 60.0
"""How long a card may take (after, or before, the password) at a nozzle or typed."""
SESSION_IDLE_S = 12 * 3600.0
DEMO_USERNAME = "demo"
DEMO_ROLE = Role.SENIOR
RECENT_CARDS = 64


class LoginRefused(EdgeError):
    """A login (or a session check) refused; `code` is an `ErrorCode` value for the wire."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Session:
    token: str
    username: str
    role: Role
    display_name: str = ""
    demo: bool = False
    has_card: bool = False
    created: float = 0.0
    last_used: float = 0.0
    language: str = ""
    """The operator's own language ('' = the station's)."""

    @property
    def permissions(self) -> tuple[str, ...]:
        return permissions_of(self.role)


@dataclass(slots=True)
class Challenge:
    id: str
    username: str
    card_asn: str
    expires: float
    future: asyncio.Future[Session] = field(repr=False)


class AuthService:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        demo_enabled: bool = False,
        max_failures: int = MAX_FAILED_LOGINS,
        card_window_s: float = CARD_WINDOW_S,
        session_idle_s: float = SESSION_IDLE_S,
    ) -> None:
        self.db = db
        self.store = ops.OperatorStore(db, clock=clock)
        self.clock = clock
        self.monotonic = monotonic
        self.demo_enabled = demo_enabled
        self.max_failures = max_failures
        self.card_window_s = card_window_s
        self.session_idle_s = session_idle_s
        self._sessions: dict[str, Session] = {}
        self._challenges: dict[str, Challenge] = {}
        self._recent_cards: deque[tuple[str, float]] = deque(maxlen=RECENT_CARDS)
        self._check_lock = asyncio.Lock()

    # --- login ------------------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> Session | Challenge:
        """Check a password; a `Session`, a `Challenge` (card needed), or `LoginRefused`."""
        name = username.strip()
        async with self._check_lock:
            op = await self.store.get(name) if name else None
            if op is None or op.demo:
                await asyncio.to_thread(passwords.dummy_verify, password)
                await self._audit(name or "?", "login", Outcome.REFUSED, details={"reason": "unknown user"})
                raise LoginRefused(ErrorCode.BAD_CREDENTIALS, "wrong user name or password")
            if op.locked:
                await self._audit(
                    op.username, "login", Outcome.REFUSED, op.role, details={"reason": "locked"}
                )
                raise LoginRefused(ErrorCode.LOCKED, f"{op.username} is locked: ask a senior operator")
            ok = await asyncio.to_thread(passwords.verify_password, password, op.password_hash)
        if not ok:
            await self._failure(op.username, op.role, "wrong password")
        if op.card_asn:
            if self._card_seen(op.card_asn):
                return await self._grant(op.username, "password + card at a nozzle")
            challenge = Challenge(
                secrets.token_urlsafe(12),
                op.username,
                op.card_asn,
                self.monotonic() + self.card_window_s,
                asyncio.get_running_loop().create_future(),
            )
            self._challenges[challenge.id] = challenge
            return challenge
        return await self._grant(op.username, "password")

    async def answer_card(self, challenge_id: str, asn: str) -> Session:
        """The card number typed or scanned for a challenge."""
        challenge = self._live_challenge(challenge_id)
        if asn.strip() == challenge.card_asn:
            session = await self._grant(challenge.username, "password + card typed")
            self._finish(challenge, session)
            return session
        try:
            op = await self.store.get(challenge.username)
            await self._failure(challenge.username, op.role if op else "", "wrong card")
        except LoginRefused as exc:
            if exc.code is ErrorCode.LOCKED:
                self._finish(challenge, exc)
            raise

    async def wait_card(self, challenge: Challenge) -> Session:
        """Wait for the challenge's card (typed or at a nozzle) until its window closes."""
        remaining = max(0.0, challenge.expires - self.monotonic())
        try:
            async with asyncio.timeout(remaining):
                return await asyncio.shield(challenge.future)
        except TimeoutError:
            self._challenges.pop(challenge.id, None)
            if not challenge.future.done():
                challenge.future.cancel()
            await self._audit(challenge.username, "login", Outcome.FAILED, details={"reason": "card timeout"})
            raise LoginRefused(ErrorCode.CARD_TIMEOUT, "no employee card within the time allowed") from None
        finally:
            if challenge.future.done() or challenge.id not in self._challenges:
                self._challenges.pop(challenge.id, None)

    async def card_presented(self, asn: str) -> None:
        """A card was presented at a nozzle (a `CardPresented` event)."""
        self._recent_cards.append((asn, self.monotonic()))
        for challenge in list(self._challenges.values()):
            if challenge.card_asn == asn and not challenge.future.done():
                if challenge.expires < self.monotonic():
                    continue
                try:
                    session = await self._grant(challenge.username, "password + card at a nozzle")
                except LoginRefused as exc:  # locked meanwhile
                    self._finish(challenge, exc)
                    continue
                self._finish(challenge, session)

    async def demo_login(self) -> Session:
        if not self.demo_enabled:
            await self._audit(DEMO_USERNAME, "demo_login", Outcome.REFUSED, details={"reason": "not a demo"})
            raise LoginRefused(ErrorCode.DEMO_DISABLED, "this station is not a demo station")
        async with self.db.transaction() as tx:
            op = await ops.get_in(tx, DEMO_USERNAME)
            if op is None:
                op = await ops.add_in(
                    tx,
                    DEMO_USERNAME,
                    DEMO_ROLE.value,
                    passwords.unusable_hash(),
                    now=self.clock(),
                    display_name="Demo operator",
                    demo=True,
                )
            if not op.demo:
                raise LoginRefused(ErrorCode.CONFLICT, f"a real operator is named {DEMO_USERNAME!r}")
            await ops.record_success_in(tx, op.username, now=self.clock())
            await append_in(tx, actor=op.username, role=op.role, action="demo_login", now=self.clock())
        return self._new_session(op.username, Role(op.role), op.display_name, demo=True, has_card=False)

    # --- sessions ---------------------------------------------------------------------------------

    def session(self, token: str) -> Session | None:
        """The live session of `token` (touching it), None if unknown or idle too long."""
        session = self._sessions.get(token) if token else None
        if session is None:
            return None
        now = self.monotonic()
        if now - session.last_used > self.session_idle_s:
            del self._sessions[token]
            return None
        session.last_used = now
        return session

    async def logout(self, token: str) -> None:
        session = self._sessions.pop(token, None)
        if session is not None:
            await self._audit(session.username, "logout", Outcome.OK, session.role)

    def revoke(self, username: str) -> int:
        """End every session of an operator (locked, password changed); returns how many."""
        tokens = [t for t, s in self._sessions.items() if s.username.lower() == username.lower()]
        for token in tokens:
            del self._sessions[token]
        return len(tokens)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    # --- internals --------------------------------------------------------------------------------

    def _card_seen(self, asn: str) -> bool:
        horizon = self.monotonic() - self.card_window_s
        return any(a == asn and at >= horizon for a, at in self._recent_cards)

    def _live_challenge(self, challenge_id: str) -> Challenge:
        challenge = self._challenges.get(challenge_id)
        if challenge is None or challenge.future.done() or challenge.expires < self.monotonic():
            raise LoginRefused(ErrorCode.CARD_TIMEOUT, "no such login in progress (expired?): log in again")
        return challenge

    def _finish(self, challenge: Challenge, outcome: Session | LoginRefused) -> None:
        self._challenges.pop(challenge.id, None)
        if challenge.future.done():
            return
        if isinstance(outcome, Session):
            challenge.future.set_result(outcome)
        else:
            challenge.future.set_exception(outcome)

    async def _failure(self, username: str, role: str, reason: str) -> NoReturn:
        now = self.clock()
        async with self.db.transaction() as tx:
            failures, locked = await ops.record_failure_in(tx, username, self.max_failures, now=now)
            await append_in(
                tx,
                actor=username,
                role=role,
                action="login",
                outcome=Outcome.FAILED,
                details={"reason": reason, "failures": failures},
                now=now,
            )
            if locked:
                await append_in(
                    tx,
                    actor="daemon",
                    source="daemon",
                    action="lock_operator",
                    target=username,
                    details={"reason": f"{failures} failed logins"},
                    now=now,
                )
        if locked:
            log.warning("operator %s locked after %d failed logins", username, failures)
            self.revoke(username)
            raise LoginRefused(ErrorCode.LOCKED, f"{username} is now locked after {failures} failed logins")
        left = self.max_failures - failures
        what = "card" if reason == "wrong card" else "user name or password"
        code = ErrorCode.BAD_CARD if reason == "wrong card" else ErrorCode.BAD_CREDENTIALS
        raise LoginRefused(code, f"wrong {what} ({left} tries left before the account locks)")

    async def _grant(self, username: str, how: str) -> Session:
        now = self.clock()
        async with self.db.transaction() as tx:
            op = await ops.get_in(tx, username)
            if op is None or op.locked:
                raise LoginRefused(ErrorCode.LOCKED, f"{username} is locked")
            await ops.record_success_in(tx, username, now=now)
            await append_in(
                tx, actor=op.username, role=op.role, action="login", details={"how": how}, now=now
            )
        return self._new_session(
            op.username, Role(op.role), op.display_name, has_card=bool(op.card_asn), language=op.language
        )

    def _new_session(
        self,
        username: str,
        role: Role,
        display_name: str,
        *,
        demo: bool = False,
        has_card: bool = False,
        language: str = "",
    ) -> Session:
        now = self.monotonic()
        session = Session(
            secrets.token_urlsafe(32), username, role, display_name, demo, has_card, now, now, language
        )
        self._sessions[session.token] = session
        return session

    async def _audit(
        self,
        actor: str,
        action: str,
        outcome: Outcome,
        role: str = "",
        *,
        details: dict[str, object] | None = None,
    ) -> None:
        async with self.db.transaction() as tx:
            await append_in(
                tx, actor=actor, role=role, action=action, outcome=outcome, details=details, now=self.clock()
            )
