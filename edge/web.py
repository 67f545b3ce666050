"""The web view: the terminal UI served to browsers with textual-serve.

Layer: edge (I/O shell around `textual_serve.server.Server`). Every browser connection (websocket
`/ws`) starts its own `python -m tui --socket PATH` process: an ordinary client of the control API,
so the browser shows the login screen first and the daemon applies the same operators, roles,
lockout and audit as for the terminal. The process never gets `--demo`. What the server itself
answers without a login is only the page that hosts the terminal and its static scripts and fonts.

    browser ──http──▶ /            page with the terminal (xterm.js), no station data
            ──ws────▶ /ws          one `python -m tui` per connection (login first)
            ──http──▶ /static/...  the page's scripts, styles, fonts (no directory listing)
            ──http──▶ /download/K  a file the logged-in UI offered (random one-time key)

It listens on 127.0.0.1 by default; remote access goes through a TLS reverse proxy
(docs/operations.md, "Web view"), with `--public-url https://...` so the page opens `wss://`.
"""

from __future__ import annotations

import ipaddress
import logging
import shlex
import sys
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

from edge.errors import EdgeError

log = logging.getLogger(__name__)

TITLE = "Station"
TEMPLATES = Path(__file__).resolve().parent / "web_templates"


class RemoteBindRefused(EdgeError, ValueError):
    """A non-loopback address without `--allow-remote`."""


def tui_command(socket_path: Path) -> str:
    """The shell command each browser session runs: the terminal UI on the control socket."""
    return shlex.join([sys.executable, "-m", "tui", "--socket", str(socket_path)])


def check_host(host: str, allow_remote: bool) -> None:
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RemoteBindRefused(
            f"{host} is not a loopback address: put a TLS reverse proxy in front (docs/operations.md)"
            " or pass --allow-remote on a trusted network"
        )


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


class WebServer(Server):
    """textual-serve's server, without the static directory listing, logging each session."""

    async def _make_app(self) -> web.Application:
        app = web.Application()
        import aiohttp_jinja2
        import jinja2

        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self._session, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
            ]
        )
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def _session(self, request: web.Request) -> web.WebSocketResponse:
        peer = request.headers.get("X-Forwarded-For") or request.remote or "?"
        log.info("web session opened from %s", peer)
        try:
            return await self.handle_websocket(request)
        finally:
            log.info("web session from %s closed", peer)

    async def on_startup(self, app: web.Application) -> None:
        self.console.print(f"station web: serving the terminal UI on {self.public_url}/")


def serve(socket_path: Path, host: str, port: int, public_url: str | None = None) -> None:
    """Serve until SIGTERM/SIGINT."""
    server = WebServer(
        tui_command(socket_path),
        host=host,
        port=port,
        title=TITLE,
        public_url=public_url,
        templates_path=TEMPLATES,
    )
    server.serve()
