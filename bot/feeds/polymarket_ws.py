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
feed treats every reconnect as a gap. Reconnects back off from 0.2 s to 5 s. The loop is
bot/feeds/ws_session.py's, shared with the price stream and the user channel.

`subscribe`/`unsubscribe` may be called from any thread: the set is kept here and re-sent
whole on every connect; while connected, the change goes out as an ``operation`` frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.feeds import polymarket_ws_wire as wsw
from bot.feeds.ws_session import SocketHealth, WsSession
from bot.model import now_ms
from bot.venues.polymarket.wire import ParseError

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

log = logging.getLogger(__name__)

MAX_ASSETS = 200
PING_S = 5.0  # the venue asks for one every 10 s; twice as often keeps the age gate fresh


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


class MarketSocket(WsSession):
    reset_after_s = 10.0
    backoff_s = (0.2, 5.0)
    protocol_ping_s = 5.0
    max_size = 8 * 1024 * 1024
    ping_text = wsw.PING
    silence_is_error = False

    def __init__(
        self,
        conn: int,
        url: str,
        deliver: Callable[[Delivery], None],
        *,
        silence_s: float = 30.0,
        ping_s: float = PING_S,
    ) -> None:
        super().__init__(
            url,
            SocketHealth(),
            silence_s=silence_s,
            ping_s=min(ping_s, silence_s / 2),  # a quiet market still answers PONG in time
            label=f"market socket {conn}",
            thread=f"market-ws-{conn}",
        )
        self.conn = conn
        self._deliver = deliver
        self.assets: set[str] = set()

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
                self.send(wsw.subscribe_frame(new, first=False))  # or whole on the next connect

    def unsubscribe(self, asset_ids: list[str]) -> None:
        with self._lock:
            gone = [a for a in asset_ids if a in self.assets]
            self.assets.difference_update(gone)
            if gone:
                self.send(wsw.unsubscribe_frame(gone))

    # -- the socket thread --------------------------------------------------------------

    def wanted(self) -> bool:
        return bool(self.assets)

    def on_open(self, ws: ClientConnection) -> None:
        ws.send(wsw.subscribe_frame(sorted(self.assets), first=True))

    def on_connected(self) -> None:
        self._deliver(Link(self.conn, True, "connected"))

    def on_down(self, reason: str) -> None:
        self.health.state = "down"
        self._deliver(Link(self.conn, False, reason))

    def on_frame(self, data: str | bytes) -> bool:
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
        return True
