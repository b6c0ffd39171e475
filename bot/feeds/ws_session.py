"""One websocket connection kept up on a thread of its own: the loop the CLOB market channel
(feeds/polymarket_ws.py), the underlying's price stream (feeds/price_socket.py) and the LIVE
user channel (venues/polymarket/user_channel.py) share.

`WsSession` connects with the ``websockets`` sync client (5 s to open, protocol pings that
close a half-open link), lets the channel sign in and subscribe (`on_open`), sends the
channel's text keepalive (`ping_text`) every `ping_s`, and hands every frame to `on_frame`.
A link that stays silent for `silence_s` (no frame at all, or for the price stream no price)
is closed and counted in `silent_closes`: a stream that stalls while its socket stays open is
a known failure of these venues. Every connection that ends is reconnected after a back-off
that doubles from `backoff_s[0]` to `backoff_s[1]` (back to the start after a connection that
lasted `reset_after_s`), until `close()`.

`SocketHealth` holds the counters every channel shows in status.json; a channel adds its own
fields in a subclass, and `row()` makes the common part of its status row.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from bot.model import iso, now_ms

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

log = logging.getLogger(__name__)


@dataclass
class SocketHealth:
    state: str = "connecting"
    connected_since_ms: int | None = None
    last_message_ms: int | None = None
    messages: int = 0
    unparsed: int = 0
    reconnects: int = 0  # connects after the first
    silent_closes: int = 0
    last_error: str = ""
    connects: int = 0

    def row(
        self, conn: int | str, url: str, assets: int, gaps: int, last_resync_ms: int | None
    ) -> dict[str, Any]:
        """The connection's row in status.json `feed_connections` (the operator's field names)."""
        now = now_ms()
        return {
            "id": conn,
            "url": url,
            "state": self.state,
            "assets": assets,
            "connected_since": iso(self.connected_since_ms) if self.connected_since_ms else None,
            "last_message": iso(self.last_message_ms) if self.last_message_ms else None,
            "message_age_s": round((now - self.last_message_ms) / 1000, 3) if self.last_message_ms else None,
            "messages": self.messages,
            "unparsed": self.unparsed,
            "reconnects": self.reconnects,
            "silent_closes": self.silent_closes,
            "gaps": gaps,
            "last_resync": iso(last_resync_ms) if last_resync_ms else None,
            "last_error": self.last_error or None,
        }


class WsSession:
    """The loop; a channel overrides the hooks below and sets the class settings."""

    backoff_s = (0.2, 10.0)
    reset_after_s = 30.0  # a connection that lasted this long starts the back-off over
    protocol_ping_s = 10.0
    protocol_ping_timeout_s = 10.0
    max_size = 2**20
    ping_text: str | None = None  # the channel's own keepalive, every `ping_s`
    silence_is_error = True  # a silent close is recorded as `last_error`

    def __init__(
        self, url: str, health: SocketHealth, *, silence_s: float, ping_s: float, label: str, thread: str
    ) -> None:
        self.url = url
        self.health = health
        self.silence_s = silence_s
        self.ping_s = ping_s
        self.label = label  # names the connection in the log
        self._lock = threading.Lock()
        self._ws: ClientConnection | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread, daemon=True)

    # -- the hooks ----------------------------------------------------------------------

    def wanted(self) -> bool:
        """Whether to connect now (a channel with nothing to subscribe waits)."""
        return True

    def refused(self) -> str | None:
        """A health state that keeps the channel from connecting at all (its `last_error`
        says why), or None."""
        return None

    def on_open(self, ws: ClientConnection) -> None:
        """Sign in and subscribe (called under the lock, before the link counts as up)."""

    def on_connected(self) -> None:
        """The link is up and counted."""

    def on_frame(self, data: str | bytes) -> bool:
        """Handle one frame; True when it shows the stream alive (resets the silence clock)."""
        raise NotImplementedError

    def on_down(self, reason: str) -> None:
        """A connection ended (or never came up), before the stop check."""

    def silence_reason(self) -> str:
        return f"silent for {self.silence_s:g} s"

    # -- any thread ---------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._close(self._ws)
        self._thread.join(timeout_s)

    def send(self, text: str) -> None:
        """Send now when connected (call under the lock); a failure is left to the reading side,
        which sees the closed link and reconnects."""
        ws = self._ws
        if ws is None:
            return
        try:
            ws.send(text)
        except Exception as exc:
            log.info("%s: send failed: %s", self.label, exc)

    def _close(self, ws: ClientConnection | None) -> None:
        if ws is not None:
            try:
                ws.close()
            except Exception:
                log.debug("%s: close failed", self.label, exc_info=True)

    # -- the socket thread --------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.backoff_s[0]
        while not self._stop.is_set():
            if not self.wanted():
                self._stop.wait(0.2)
                continue
            started = time.monotonic()
            reason = self._session()
            self.on_down(reason)
            if self._stop.is_set():
                return
            if self.health.state in ("connecting", "connected"):
                self.health.state = "down"
            if time.monotonic() - started > self.reset_after_s:
                backoff = self.backoff_s[0]
            log.warning("%s down (%s); reconnecting in %.1f s", self.label, reason, backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.backoff_s[1])

    def _session(self) -> str:
        """One connection, from connect to close; returns why it ended."""
        health = self.health
        refused = self.refused()
        if refused is not None:
            health.state = refused
            return health.last_error
        try:
            from websockets.exceptions import ConnectionClosed
            from websockets.sync.client import connect

            ws = connect(
                self.url,
                proxy=None,
                open_timeout=5,
                ping_interval=self.protocol_ping_s,
                ping_timeout=self.protocol_ping_timeout_s,
                close_timeout=1,
                max_size=self.max_size,
            )
        except Exception as exc:
            return self._failed(f"connect: {type(exc).__name__}: {exc}")
        try:
            with self._lock:
                self._ws = ws
                self.on_open(ws)
            if health.connects:
                health.reconnects += 1
            health.connects += 1
            health.state, health.connected_since_ms = "connected", now_ms()
            self.on_connected()
            return self._receive(ws)
        except ConnectionClosed as exc:
            return self._failed(f"closed: {exc}")
        except Exception as exc:
            return self._failed(f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._ws = None
            self._close(ws)

    def _failed(self, error: str) -> str:
        self.health.last_error = error
        return error

    def _receive(self, ws: ClientConnection) -> str:
        last_alive = next_ping = time.monotonic()
        if self.ping_text is None:
            next_ping = math.inf
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_ping and self.ping_text is not None:
                ws.send(self.ping_text)
                next_ping = now + self.ping_s
            if now - last_alive > self.silence_s:
                self.health.silent_closes += 1
                reason = self.silence_reason()
                if self.silence_is_error:
                    self.health.last_error = reason
                return reason
            try:
                data = ws.recv(timeout=max(0.01, min(next_ping, last_alive + self.silence_s) - now))
            except TimeoutError:
                continue
            if self.on_frame(data):
                last_alive = time.monotonic()
        return "stopped"
