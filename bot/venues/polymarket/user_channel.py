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
for `silence_s` seconds is closed and reconnected; reconnects back off from 0.2 s to 10 s.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.model import iso, now_ms

log = logging.getLogger(__name__)

PING_S = 10.0
BACKOFF_S = (0.2, 10.0)
Creds = tuple[str, str, str]


@dataclass
class UserHealth:
    state: str = "connecting"
    connected_since_ms: int | None = None
    last_message_ms: int | None = None
    messages: int = 0
    trades: int = 0
    orders: int = 0
    unparsed: int = 0
    reconnects: int = 0
    silent_closes: int = 0
    resyncs: int = 0
    last_resync_ms: int | None = None
    last_error: str = ""
    connects: int = 0


class UserChannel:
    def __init__(
        self,
        url: str,
        creds: Callable[[], Creds],
        wake: Callable[[], None],
        *,
        silence_s: float = 30.0,
    ) -> None:
        self.url = url
        self._creds = creds
        self._wake = wake
        self.silence_s = silence_s
        self.ping_s = min(PING_S, silence_s / 3)
        self.health = UserHealth()
        self._rows: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._resync = threading.Event()
        self._ws: object | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="user-ws", daemon=True)

    def start(self) -> UserChannel:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close()  # type: ignore[attr-defined]
            except Exception:
                log.debug("user socket: close failed", exc_info=True)
        self._thread.join(timeout_s)

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
        now = now_ms()
        return {
            "id": "user",
            "url": self.url,
            "state": h.state,
            "assets": 0,
            "connected_since": iso(h.connected_since_ms) if h.connected_since_ms else None,
            "last_message": iso(h.last_message_ms) if h.last_message_ms else None,
            "message_age_s": round((now - h.last_message_ms) / 1000, 3) if h.last_message_ms else None,
            "messages": h.messages,
            "unparsed": h.unparsed,
            "reconnects": h.reconnects,
            "silent_closes": h.silent_closes,
            "gaps": h.reconnects,
            "last_resync": iso(h.last_resync_ms) if h.last_resync_ms else None,
            "last_error": h.last_error or None,
        }

    # -- the socket thread --------------------------------------------------------------

    def _run(self) -> None:
        backoff = BACKOFF_S[0]
        while not self._stop.is_set():
            started = time.monotonic()
            reason = self._session()
            if self._stop.is_set():
                return
            self.health.state = "down"
            if time.monotonic() - started > 30:
                backoff = BACKOFF_S[0]
            log.warning("user socket down (%s); reconnecting in %.1f s", reason, backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_S[1])

    def _session(self) -> str:
        health = self.health
        try:
            from websockets.exceptions import ConnectionClosed
            from websockets.sync.client import connect

            ws = connect(
                self.url, proxy=None, open_timeout=5, ping_interval=10, ping_timeout=10, close_timeout=1
            )
        except Exception as exc:
            health.last_error = f"connect: {type(exc).__name__}: {exc}"
            return health.last_error
        self._ws = ws
        try:
            key, secret, passphrase = self._creds()
            ws.send(
                json.dumps(
                    {"auth": {"apiKey": key, "secret": secret, "passphrase": passphrase}, "type": "user"}
                )
            )
            if health.connects:
                health.reconnects += 1
            health.connects += 1
            health.state, health.connected_since_ms = "connected", now_ms()
            self._resync.set()  # whatever happened before this connection: read it over REST
            self._wake()
            last_frame = next_ping = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_ping:
                    ws.send("PING")
                    next_ping = now + self.ping_s
                if now - last_frame > self.silence_s:
                    health.silent_closes += 1
                    health.last_error = f"silent for {self.silence_s:g} s"
                    return health.last_error
                try:
                    data = ws.recv(timeout=max(0.01, min(next_ping, last_frame + self.silence_s) - now))
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
            self._ws = None
            try:
                ws.close()
            except Exception:
                log.debug("user socket: close failed", exc_info=True)

    def _on_frame(self, data: str | bytes) -> None:
        health = self.health
        health.messages += 1
        health.last_message_ms = now_ms()
        if data in ("PONG", b"PONG"):
            return
        try:
            decoded = json.loads(data)
        except ValueError:
            health.unparsed += 1
            log.warning("user socket: message ignored: not JSON: %r", str(data)[:60])
            self._resync.set()  # something was lost: read it over REST
            self._wake()
            return
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
