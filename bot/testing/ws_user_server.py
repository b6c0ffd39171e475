"""A local stand-in for Polymarket's CLOB user websocket (``/ws/user``), wired to the local
CLOB's exchange (bot/testing/clob_exchange.py), on 127.0.0.1 (``websockets`` sync server).

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

import contextlib
import json
import queue
import socket
import threading
import time
from typing import Any

from bot.testing.clob_exchange import Exchange


class _Client:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.owner = ""
        self.markets: set[str] = set()
        self.lock = threading.Lock()

    def send(self, text: str) -> None:
        with self.lock:
            self.conn.send(text)


class WsUserServer:
    def __init__(
        self,
        exchange: Exchange,
        known_keys: dict[str, tuple[str, str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """`known_keys`: api key -> (secret, passphrase) accepted; None accepts any non-empty creds."""
        self.exchange = exchange
        self.known_keys = known_keys
        self._host, self._port = host, port
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._silent = False
        self._refusing = False
        self._pending: queue.SimpleQueue[tuple[float, str, str, str] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.pushed: list[tuple[str, str]] = []  # (trade id, status) sent to at least one client
        self.missed: list[str] = []  # trade ids made while no client of their owner was connected
        self.received: list[Any] = []
        self.connections = 0
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        exchange.trade_listeners.append(self._on_trade)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> WsUserServer:
        from websockets.sync.server import serve

        self._server = serve(self._handle, self._host, self._port, compression=None, ping_interval=None)
        for target, name in ((self._server.serve_forever, "ws-user"), (self._push_loop, "ws-user-push")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._pending.put(None)
        if self._on_trade in self.exchange.trade_listeners:
            self.exchange.trade_listeners.remove(self._on_trade)
        if self._server is not None:
            self.drop()
            self._server.shutdown()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> WsUserServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/ws/user"

    def signed_in(self) -> int:
        with self._lock:
            return sum(1 for c in self._clients if c.owner)

    # -- faults ---------------------------------------------------------------------------

    def silence(self, on: bool) -> None:
        self._silent = on

    def refuse(self, on: bool) -> None:
        """While on, every new connection is closed at once (an outage of the socket)."""
        self._refusing = on

    def drop(self) -> None:
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            sock = getattr(client.conn, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def send_raw(self, text: str) -> None:
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(Exception):
                client.send(text)

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
        with self._lock:
            clients = [c for c in self._clients if c.owner == owner]
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
            with contextlib.suppress(Exception):
                client.send(json.dumps(row))
                sent = True
        if sent:
            self.pushed.append((trade_id, status))
        return sent

    # -- connections ------------------------------------------------------------------------

    def _handle(self, conn: Any) -> None:
        if self._refusing:
            conn.close(1013, "try again later")
            return
        client = _Client(conn)
        with self._lock:
            self._clients.append(client)
            self.connections += 1
        try:
            for message in conn:
                self.received.append("PING" if message == "PING" else "(frame)")
                if self._silent:
                    continue
                if message == "PING":
                    client.send("PONG")
                    continue
                try:
                    frame = json.loads(message)
                except ValueError:
                    continue
                if not client.owner:
                    if not self._sign_in(client, frame):
                        conn.close(4001, "auth")
                        return
                elif isinstance(frame, dict) and frame.get("operation") in ("subscribe", "unsubscribe"):
                    markets = set(frame.get("markets") or [])
                    if frame["operation"] == "subscribe":
                        client.markets |= markets
                    else:
                        client.markets -= markets
        except Exception:  # a dropped client ends its thread
            pass
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)

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
