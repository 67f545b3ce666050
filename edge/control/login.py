"""The login flow of the control API: password, then (for roles that need it) an employee card.

Layer: edge (control API; the rules of logging in are `edge.auth.service.AuthService`). A password
login either answers at once (`login_ok` or an error) or, when the operator's role asks for a second
factor, answers a `LoginChallenge` now and the final reply later, when the card is typed or presented at
a nozzle (`wait_card`) or the challenge expires. The server hands in how to send a reply on the
connection (`Send`) and how to run the wait as one of the connection's tasks (`Spawn`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from edge.auth.service import AuthService, Challenge, LoginRefused
from edge.control import messages as m
from edge.control.handlers import login_ok

__all__ = ["LoginFlow", "Send", "Spawn"]

Send = Callable[[m.Message], object]
"""Send one message on the connection that asked (already addressed with `m.reply_to`)."""
Spawn = Callable[[Coroutine[Any, Any, None]], None]
"""Run a coroutine as a task of the connection that asked (cancelled when it goes)."""


class LoginFlow:
    """Answers `Login`, `LoginCard` and `DemoLogin` requests."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def login(self, request: m.Login, send: Send, spawn: Spawn) -> m.Reply | None:
        """The reply now, or None when a challenge was sent and the reply follows from a spawned task."""
        try:
            result = await self.auth.login(request.username, request.password)
        except LoginRefused as exc:
            return m.Error(code=exc.code, message=exc.message)
        if not isinstance(result, Challenge):
            return login_ok(result)
        seconds = max(1, round(result.expires - self.auth.monotonic()))
        send(
            m.reply_to(
                request,
                m.LoginChallenge(
                    challenge=result.id,
                    seconds=seconds,
                    message=f"Type the employee card number or present the card at a nozzle within {seconds} s",
                ),
            )
        )
        spawn(self._await_card(request, result, send))
        return None

    async def card(self, request: m.LoginCard) -> m.Reply:
        try:
            await self.auth.answer_card(request.challenge, request.asn)
        except LoginRefused as exc:
            return m.Error(code=exc.code, message=exc.message)
        return m.Ok(message="card accepted")

    async def demo(self) -> m.Reply:
        try:
            return login_ok(await self.auth.demo_login())
        except LoginRefused as exc:
            return m.Error(code=exc.code, message=exc.message)

    async def _await_card(self, request: m.Login, challenge: Challenge, send: Send) -> None:
        try:
            reply: m.Reply = login_ok(await self.auth.wait_card(challenge))
        except LoginRefused as exc:
            reply = m.Error(code=exc.code, message=exc.message)
        send(m.reply_to(request, reply))
