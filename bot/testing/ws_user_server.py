"""A local stand-in for Polymarket's CLOB user websocket (``/ws/user``), wired to the local
CLOB's exchange (bot/testing/clob_exchange.py), on 127.0.0.1 (bot/testing/ws_server.py).

The protocol (../shared/polymarket-realtime.md §3): the first frame
``{"auth":{"apiKey","secret","passphrase"},"type":"user","markets":[...]}`` signs in (the
creds must be ones the CLOB knows, else the socket is closed with 4001; no ``markets``
follows the whole account); the text ``PING`` is answered ``PONG``. Every trade the exchange
makes for the signed-in key is pushed at once as ``{"event_type":"trade","type":"TRADE",
...}`` with the fields of the REST ``/data/trades`` row (status ``MATCHED``), and again as
``CONFIRMED`` once the exchange settles it (``trade_settle_s``). A trade made while a client
is not connected is never replayed: as at the venue, the client must re-read over REST.

Faults: `drop()` cuts every connection without a close frame; `refuse(True)` closes every
new connection at once (an outage); `silence(True)` stops every push and PONG;
`send_raw(text)` sends anything.
"""

from __future__ import annotations

import json
import queue
import time
from typing import Any

from bot.testing.clob_exchange import Exchange
from bot.testing.ws_server import WsClient, WsServer


class _Client(WsClient):
    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        self.owner = ""
        self.markets: set[str] = set()


class WsUserServer(WsServer):
    name = "ws-user"

    def __init__(
        self,
        exchange: Exchange,
        known_keys: dict[str, tuple[str, str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """`known_keys`: api key -> (secret, passphrase) accepted; None accepts any non-empty creds."""
        super().__init__(host, port)
        self.exchange = exchange
        self.known_keys = known_keys
        self._pending: queue.SimpleQueue[tuple[float, str, str, str] | None] = queue.SimpleQueue()
        self.pushed: list[tuple[str, str]] = []  # (trade id, status) sent to at least one client
        self.missed: list[str] = []  # trade ids made while no client of their owner was connected
        exchange.trade_listeners.append(self._on_trade)

    def start(self) -> WsUserServer:
        super().start()
        self._spawn(self._push_loop, "ws-user-push")
        return self

    def _stopping(self) -> None:
        self._pending.put(None)
        if self._on_trade in self.exchange.trade_listeners:
            self.exchange.trade_listeners.remove(self._on_trade)

    @property
    def url(self) -> str:
        return self._url("/ws/user")

    def signed_in(self) -> int:
        return self._count(lambda c: bool(c.owner))

    # -- pushing trades ---------------------------------------------------------------------

    def _on_trade(self, owner: str, trade_id: str) -> None:
        """The exchange's hook, called under its lock: queue only."""
        self._pending.put((time.monotonic(), owner, trade_id, "MATCHED"))

    def _push_loop(self) -> None:
        later: list[tuple[float, str, str, str]] = []
        while not self._stop.is_set():
            timeout = max(0.0, min(t[0] for t in later) - time.monotonic()) if later else 0.5
            try:
                item = self._pending.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is not None:
                later.append(item)
            now = time.monotonic()
            due = [t for t in later if t[0] <= now]
            later = [t for t in later if t[0] > now]
            for _, owner, trade_id, status in due:
                if self._push(owner, trade_id, status) and status == "MATCHED":
                    confirm_at = now + self.exchange.trade_settle_s + 0.05
                    later.append((confirm_at, owner, trade_id, "CONFIRMED"))

    def _push(self, owner: str, trade_id: str, status: str) -> bool:
        rows = self.exchange.trades(owner, {"id": trade_id}).get("data") or []
        clients = self._clients_where(lambda c: c.owner == owner)
        if not rows:
            return False
        if not clients or self._silent:
            if status == "MATCHED":
                self.missed.append(trade_id)
            return False
        row = {**rows[0], "status": status, "event_type": "trade", "type": "TRADE"}
        row["timestamp"] = str(int(time.time() * 1000))
        sent = False
        for client in clients:
            if client.markets and row.get("market") not in client.markets:
                continue
            sent = self._send(client, json.dumps(row)) or sent
        if sent:
            self.pushed.append((trade_id, status))
        return sent

    # -- connections ------------------------------------------------------------------------

    def _client(self, conn: Any) -> _Client:
        return _Client(conn)

    def _on_frame(self, client: _Client, message: Any) -> bool:
        self.received.append("PING" if message == "PING" else "(frame)")
        if self._silent:
            return True
        if message == "PING":
            client.send("PONG")
            return True
        try:
            frame = json.loads(message)
        except ValueError:
            return True
        if not client.owner:
            if not self._sign_in(client, frame):
                client.conn.close(4001, "auth")
                return False
        elif isinstance(frame, dict) and frame.get("operation") in ("subscribe", "unsubscribe"):
            markets = set(frame.get("markets") or [])
            if frame["operation"] == "subscribe":
                client.markets |= markets
            else:
                client.markets -= markets
        return True

    def _sign_in(self, client: _Client, frame: Any) -> bool:
        if not isinstance(frame, dict) or frame.get("type") != "user":
            return False
        auth = frame.get("auth") or {}
        key, secret, passphrase = auth.get("apiKey"), auth.get("secret"), auth.get("passphrase")
        if not (key and secret and passphrase):
            return False
        if self.known_keys is not None and self.known_keys.get(key) != (secret, passphrase):
            return False
        client.owner = key
        client.markets = set(frame.get("markets") or [])
        return True
