"""The CLOB user websocket (``/ws/user``): our trades and orders as they happen (LIVE).

`UserChannel(url, creds, wake)` runs one connection on a thread of its own (``websockets``
sync client). It signs in with the first frame ``{"auth":{apiKey,secret,passphrase},
"type":"user"}`` (the account's raw L2 credentials; no ``markets``: the whole account, so
no market of ours is left out; the credentials are never logged), sends the text ``PING``
every `PING_S` seconds, and queues every ``trade`` event (MATCHED, MINED, CONFIRMED,
RETRYING, FAILED: the row has the fields of a REST ``/data/trades`` row) for the engine's
thread, which books them through the venue's own trade parser and its de-duplication by
trade id (so a fill the REST poll also reads is booked once, and a FAILED one is undone as
when polled). ``order`` events ask for a REST poll at once (a cancel or an expiry seen
sooner).

The socket replays nothing missed while it was down (../shared/polymarket-realtime.md §3), so
every connect (the first included: the start-up reconciliation read came before it) and
every reconnect sets `resync`: the engine's side asks the REST poll for a read at once, and
the trades in it are de-duplicated by id. A socket that hears nothing (not even ``PONG``)
for `silence_s` seconds is closed and reconnected; reconnects back off from 0.2 s to 10 s
(the loop is bot/feeds/ws_session.py's, shared with the market and price streams).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.feeds.ws_session import SocketHealth, WsSession
from bot.model import now_ms

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

log = logging.getLogger(__name__)

PING_S = 10.0
Creds = tuple[str, str, str]


@dataclass
class UserHealth(SocketHealth):
    trades: int = 0
    orders: int = 0
    resyncs: int = 0
    last_resync_ms: int | None = None


class UserChannel(WsSession):
    health: UserHealth
    ping_text = "PING"

    def __init__(
        self,
        url: str,
        creds: Callable[[], Creds],
        wake: Callable[[], None],
        *,
        silence_s: float = 30.0,
    ) -> None:
        super().__init__(
            url,
            UserHealth(),
            silence_s=silence_s,
            ping_s=min(PING_S, silence_s / 3),
            label="user socket",
            thread="user-ws",
        )
        self._creds = creds
        self._wake = wake
        self._rows: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._resync = threading.Event()

    def stop(self, timeout_s: float = 2.0) -> None:
        self.close(timeout_s)

    # -- the engine's side --------------------------------------------------------------

    def waiting(self) -> bool:
        return self._resync.is_set() or not self._rows.empty()

    def take_resync(self) -> bool:
        """Whether a REST re-read is due (a connect, an order event, a lost message)."""
        resync = self._resync.is_set()
        if resync:
            self._resync.clear()
            self.health.resyncs += 1
            self.health.last_resync_ms = now_ms()
        return resync

    def take_rows(self) -> list[dict[str, Any]]:
        """The trade rows received since the last call."""
        rows = []
        while True:
            try:
                rows.append(self._rows.get_nowait())
            except queue.Empty:
                return rows

    def health_row(self) -> dict[str, Any]:
        h = self.health
        return h.row("user", self.url, 0, h.reconnects, h.last_resync_ms)

    # -- the socket thread --------------------------------------------------------------

    def on_open(self, ws: ClientConnection) -> None:
        key, secret, passphrase = self._creds()
        ws.send(
            json.dumps({"auth": {"apiKey": key, "secret": secret, "passphrase": passphrase}, "type": "user"})
        )

    def on_connected(self) -> None:
        self._resync.set()  # whatever happened before this connection: read it over REST
        self._wake()

    def on_frame(self, data: str | bytes) -> bool:
        health = self.health
        health.messages += 1
        health.last_message_ms = now_ms()
        if data in ("PONG", b"PONG"):
            return True
        try:
            decoded = json.loads(data)
        except ValueError:
            health.unparsed += 1
            log.warning("user socket: message ignored: not JSON: %r", str(data)[:60])
            self._resync.set()  # something was lost: read it over REST
            self._wake()
            return True
        events = decoded if isinstance(decoded, list) else [decoded]
        woke = False
        for event in events:
            kind = event.get("event_type") if isinstance(event, dict) else None
            if kind == "trade":
                health.trades += 1
                self._rows.put(event)
                woke = True
            elif kind == "order":
                health.orders += 1
                self._resync.set()
                woke = True
            else:
                health.unparsed += 1
                log.warning("user socket: message ignored: event_type %r", kind)
        if woke:
            self._wake()
        return True


class StreamedPoll:
    """The venue poll with the user channel in front (engine thread): trade events are
    booked as they arrive, and every (re)connect or order event asks the REST poll for a read
    at once; the REST poll goes on at its interval as the backstop. Same interface as
    `BackgroundPoll` (bot/venues/polymarket/poll.py), which it wraps."""

    def __init__(self, poll: Any, channel: UserChannel, venue: Any) -> None:
        self._poll = poll
        self.channel = channel
        self._venue = venue
        self.streamed = 0  # fills booked from the socket

    def start(self) -> StreamedPoll:
        self._poll.start()
        self.channel.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        self.channel.stop(timeout_s)
        self._poll.stop(timeout_s)

    def ready(self) -> bool:
        return bool(self._poll.ready() or self.channel.waiting())

    def poll(self, now_ms: int) -> list[Any] | None:
        if self.channel.take_resync():
            self._poll.hurry()
        polled = self._poll.poll(now_ms)  # a VenueError leaves the socket's rows for next time
        rows = self.channel.take_rows()
        events = self._venue.book_streamed(rows) if rows else []
        self.streamed += len(events)
        if polled is None and not events:
            return None
        return events + (polled or [])


def streamed(poll: Any, venue: Any, url: str, wake: Callable[[], None], silence_s: float) -> StreamedPoll:
    """`[polymarket] user_channel = true` (LIVE): the poll with the user websocket in front."""
    creds = venue.api_credentials()  # read here, on the engine's thread, once
    return StreamedPoll(poll, UserChannel(url, lambda: creds, wake, silence_s=silence_s), venue)
