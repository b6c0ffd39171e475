"""One connection to the CLOB market websocket, run on its own thread (``websockets`` sync client).

`MarketSocket(url, deliver)` connects, subscribes its asset ids (at most `MAX_ASSETS`, the
per-connection bound Nautilus uses because larger sets have been seen to stall a socket),
and hands every frame to `deliver` as a `Frame` (parsed events, with the frames that did not
parse as one-line errors) or a `Link` when the connection comes up or goes down. It never
keeps book state: the feed does (bot/feeds/polymarket_stream.py).

Keepalive, as the venue asks and as half-open TCP needs: the text ``PING`` every
`PING_S` seconds (the server answers ``PONG``), and protocol pings (`ping_interval`,
`ping_timeout`) that close a dead link. A socket that delivers nothing for `silence_s`
seconds is closed and reconnected: a silent stream is a known failure of this venue, and the
feed treats every reconnect as a gap. Reconnects back off from 0.2 s to 5 s.

`subscribe`/`unsubscribe` may be called from any thread: the set is kept here and re-sent
whole on every connect; while connected, the change goes out as an ``operation`` frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.feeds import polymarket_ws_wire as wsw
from bot.model import now_ms
from bot.venues.polymarket.wire import ParseError

log = logging.getLogger(__name__)

MAX_ASSETS = 200
PING_S = 5.0  # the venue asks for one every 10 s; twice as often keeps the age gate fresh
PROTOCOL_PING_S = 5.0
PROTOCOL_PING_TIMEOUT_S = 10.0
BACKOFF_S = (0.2, 5.0)


@dataclass(frozen=True, slots=True)
class Frame:
    conn: int
    recv_ms: int  # wall clock
    events: list[wsw.Parsed]
    errors: list[str]


@dataclass(frozen=True, slots=True)
class Link:
    conn: int
    up: bool
    reason: str


Delivery = Frame | Link


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


class MarketSocket:
    def __init__(
        self,
        conn: int,
        url: str,
        deliver: Callable[[Delivery], None],
        *,
        silence_s: float = 30.0,
        ping_s: float = PING_S,
    ) -> None:
        self.conn = conn
        self.url = url
        self._deliver = deliver
        self.silence_s = silence_s
        self.ping_s = min(ping_s, silence_s / 2)  # a quiet market still answers PONG in time
        self.assets: set[str] = set()
        self.health = SocketHealth()
        self._lock = threading.Lock()
        self._ws: object | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"market-ws-{conn}", daemon=True)

    def start(self) -> MarketSocket:
        self._thread.start()
        return self

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._close_link()
        self._thread.join(timeout_s)

    @property
    def room(self) -> int:
        return MAX_ASSETS - len(self.assets)

    @property
    def connected(self) -> bool:
        return self.health.state == "connected"

    def subscribe(self, asset_ids: list[str]) -> None:
        new = [a for a in asset_ids if a not in self.assets]  # the venue refuses repeats
        if len(self.assets) + len(new) > MAX_ASSETS:
            raise ValueError(f"a market socket takes at most {MAX_ASSETS} assets")
        with self._lock:
            self.assets.update(new)
            if new:
                self._send(wsw.subscribe_frame(new, first=False))

    def unsubscribe(self, asset_ids: list[str]) -> None:
        with self._lock:
            gone = [a for a in asset_ids if a in self.assets]
            self.assets.difference_update(gone)
            if gone:
                self._send(wsw.unsubscribe_frame(gone))

    # -- the socket thread --------------------------------------------------------------

    def _send(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            return  # sent whole on the next connect
        try:
            ws.send(text)  # type: ignore[attr-defined]
        except Exception as exc:  # the reading side sees the closed link and reconnects
            log.info("market socket %d: send failed: %s", self.conn, exc)

    def _close_link(self) -> None:
        ws = self._ws
        if ws is not None:
            try:
                ws.close()  # type: ignore[attr-defined]
            except Exception:
                log.debug("market socket %d: close failed", self.conn, exc_info=True)

    def _run(self) -> None:
        backoff = BACKOFF_S[0]
        while not self._stop.is_set():
            if not self.assets:
                self._stop.wait(0.2)
                continue
            started = time.monotonic()
            reason = self._session()
            self.health.state = "down"
            self._deliver(Link(self.conn, False, reason))
            if self._stop.is_set():
                return
            if time.monotonic() - started > 10:
                backoff = BACKOFF_S[0]
            log.warning("market socket %d down (%s); reconnecting in %.1f s", self.conn, reason, backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_S[1])

    def _session(self) -> str:
        """One connection, from connect to close; returns why it ended."""
        try:
            from websockets.exceptions import ConnectionClosed
            from websockets.sync.client import connect

            ws = connect(
                self.url,
                proxy=None,
                open_timeout=5,
                ping_interval=PROTOCOL_PING_S,
                ping_timeout=PROTOCOL_PING_TIMEOUT_S,
                close_timeout=1,
                max_size=8 * 1024 * 1024,
            )
        except Exception as exc:
            self.health.last_error = f"connect: {type(exc).__name__}: {exc}"
            return self.health.last_error
        with self._lock:
            self._ws = ws
            ws.send(wsw.subscribe_frame(sorted(self.assets), first=True))
        health = self.health
        if health.connects:
            health.reconnects += 1
        health.connects += 1
        health.state, health.connected_since_ms = "connected", now_ms()
        self._deliver(Link(self.conn, True, "connected"))
        last_frame = next_ping = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_ping:
                    ws.send(wsw.PING)
                    next_ping = now + self.ping_s
                if now - last_frame > self.silence_s:
                    health.silent_closes += 1
                    return f"silent for {self.silence_s:g} s"
                try:
                    data = ws.recv(timeout=max(0.0, min(next_ping, last_frame + self.silence_s) - now))
                except TimeoutError:
                    continue
                last_frame = time.monotonic()
                self._on_frame(data)
            return "stopped"
        except ConnectionClosed as exc:
            health.last_error = f"closed: {exc}"
            return health.last_error
        except Exception as exc:
            health.last_error = f"{type(exc).__name__}: {exc}"
            return health.last_error
        finally:
            with self._lock:
                self._ws = None
            try:
                ws.close()
            except Exception:
                log.debug("market socket %d: close failed", self.conn, exc_info=True)

    def _on_frame(self, data: str | bytes) -> None:
        recv_ms = now_ms()
        health = self.health
        health.messages += 1
        health.last_message_ms = recv_ms
        events: list[wsw.Parsed] = []
        errors: list[str] = []
        try:
            raws = wsw.decode_frame(data)
        except ParseError as exc:
            raws, errors = [], [str(exc)]
        for raw in raws:
            try:
                events.append(wsw.parse_event(raw))
            except ParseError as exc:
                errors.append(str(exc))
        if errors:
            health.unparsed += len(errors)
            for error in errors:
                log.warning("market socket %d: message ignored: %s", self.conn, error)
        self._deliver(Frame(self.conn, recv_ms, events, errors))
