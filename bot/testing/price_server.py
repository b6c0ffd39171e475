"""A local stand-in for the underlying's price streams, for tests and benchmarks, on 127.0.0.1
(``websockets`` sync server, one thread per connection; the serving is bot/testing/ws_server.py).

Two protocols on one port, told apart by the path (../shared/polymarket-realtime.md §4):

- ``/ws``: PolyBolt. ``{"op":"auth","rid","auth":{apiKey,secret,passphrase}}`` is answered
  ``{"op":"authed","rid"}`` (or ``{"op":"error"}`` and close code 4001 for other creds);
  ``{"op":"subscribe","rid","subscriptions":[{"channel":"price.crypto.twap","filter":
  {"symbol":"btcusd","window_seconds":60}}]}`` is answered ``subscribed`` and then a snapshot
  envelope (``snapshot: true``, ``payload.data[]`` with the last two minutes) before live
  envelopes ``{"v":1,"channel","seq","ts","payload":{symbol,value,full_accuracy_value,
  timestamp,window_seconds}}``; ``{"op":"ping"}`` gets ``{"op":"pong"}``. Subscribing before
  authenticating is refused.
- ``/binance``: ``{"method":"SUBSCRIBE","params":["btcusdt@kline_1h"],"id":1}`` is answered
  ``{"result":null,"id":1}``, then ``kline`` events.

::

    with PriceServer(creds=("key", "secret", "pass")) as prices:
        prices.publish("btcusd", 97_000.5)            # every TWAP subscriber of btcusd
        prices.kline("btcusdt", open_ms, 97_000, 97_100)
        prices.tick_every("btcusd", 0.2, lambda: 97_000 + drift())   # a thread of its own

Faults: `silence(True)` stops every price (pongs too; the socket stays open, the way these
streams stall); `drop()` cuts every connection without a close frame; `send_raw(text)` sends
anything to every client.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.testing.ws_server import WsClient, WsServer

HISTORY_MS = 120_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Client(WsClient):
    def __init__(self, conn: Any, kind: str) -> None:
        super().__init__(conn)
        self.kind = kind  # polybolt | binance
        self.authed = False
        self.symbols: set[str] = set()
        self.seq = 0


class PriceServer(WsServer):
    name = "price-server"

    def __init__(
        self, creds: tuple[str, str, str] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(host, port)
        self.creds = creds
        self._history: dict[str, list[tuple[int, float]]] = {}
        self._tickers: list[threading.Thread] = []
        self.sent_at: dict[tuple[str, int], float] = {}  # (symbol, ts_ms) -> time.monotonic() (bench)

    def _stopping(self) -> None:
        for ticker in self._tickers:
            ticker.join(2)

    @property
    def url(self) -> str:
        return self._url("/ws")

    @property
    def binance_url(self) -> str:
        return self._url("/binance")

    def subscribed(self, symbol: str) -> int:
        return self._count(lambda c: symbol in c.symbols)

    # -- prices ---------------------------------------------------------------------------

    def publish(self, symbol: str, price: float, ts_ms: int | None = None) -> int:
        """A TWAP value of `symbol` observed at `ts_ms` (now), to every subscriber; returns ts_ms."""
        ts = ts_ms or _now_ms()
        with self._lock:
            history = self._history.setdefault(symbol, [])
            history.append((ts, price))
            while history and history[0][0] < ts - HISTORY_MS:
                history.pop(0)
            clients = [c for c in self._clients if c.kind == "polybolt" and symbol in c.symbols]
        if self._silent:
            return ts
        self.sent_at[(symbol, ts)] = time.monotonic()
        payload = {
            "symbol": symbol,
            "value": price,
            "full_accuracy_value": f"{price:.8f}",
            "timestamp": ts,
            "window_seconds": 60,
        }
        for client in clients:
            self._envelope(client, payload, snapshot=False)
        return ts

    def kline(
        self, symbol: str, open_ms: int, open_price: float, close: float, ts_ms: int | None = None
    ) -> None:
        ts = ts_ms or _now_ms()
        event = {
            "e": "kline",
            "E": ts,
            "s": symbol.upper(),
            "k": {
                "t": open_ms,
                "T": open_ms + 3_599_999,
                "s": symbol.upper(),
                "i": "1h",
                "o": f"{open_price:.2f}",
                "c": f"{close:.2f}",
                "h": f"{max(open_price, close):.2f}",
                "l": f"{min(open_price, close):.2f}",
                "v": "1.0",
                "x": False,
            },
        }
        clients = self._clients_where(lambda c: c.kind == "binance" and symbol.lower() in c.symbols)
        if not self._silent:
            self._broadcast(json.dumps(event), clients)

    def tick_every(self, symbol: str, interval_s: float, price: Callable[[], float]) -> None:
        """Publish `price()` every `interval_s` seconds until the server stops."""

        def run() -> None:
            while not self._stop.wait(interval_s):
                self.publish(symbol, price())

        thread = threading.Thread(target=run, name=f"ticker-{symbol}", daemon=True)
        self._tickers.append(thread)
        thread.start()

    # -- connections ------------------------------------------------------------------------

    def _envelope(self, client: _Client, payload: dict[str, Any], snapshot: bool) -> None:
        with client.lock:
            client.seq += 1
            frame: dict[str, Any] = {
                "v": 1,
                "channel": "price.crypto.twap",
                "seq": client.seq,
                "ts": _now_ms(),
                "payload": payload,
            }
            if snapshot:
                frame["snapshot"] = True
            with contextlib.suppress(Exception):
                client.conn.send(json.dumps(frame))

    def _client(self, conn: Any) -> _Client:
        path = getattr(getattr(conn, "request", None), "path", "/ws") or "/ws"
        return _Client(conn, "binance" if path.startswith("/binance") else "polybolt")

    def _on_frame(self, client: _Client, message: Any) -> bool:
        try:
            frame = json.loads(message)
        except ValueError:
            return True
        self.received.append(frame)
        if self._silent:
            return True
        if client.kind == "binance":
            self._binance(client, frame)
        else:
            self._polybolt(client, frame)
        return True

    def _polybolt(self, client: _Client, frame: Any) -> None:
        op = frame.get("op") if isinstance(frame, dict) else None
        rid = frame.get("rid", "") if isinstance(frame, dict) else ""
        if op == "ping":
            self._send(client, json.dumps({"op": "pong", "rid": rid}))
        elif op == "auth":
            auth = frame.get("auth") or {}
            given = (auth.get("apiKey"), auth.get("secret"), auth.get("passphrase"))
            if (self.creds is not None and given != self.creds) or not all(given):
                self._send(client, json.dumps({"op": "error", "rid": rid, "error": "authentication failed"}))
                client.conn.close(4001, "auth")
                return
            client.authed = True
            self._send(client, json.dumps({"op": "authed", "rid": rid}))
        elif op == "subscribe":
            if not client.authed:
                self._send(client, json.dumps({"op": "error", "rid": rid, "error": "not authenticated"}))
                return
            symbols = [
                s["filter"]["symbol"]
                for s in frame.get("subscriptions", [])
                if s.get("channel") == "price.crypto.twap"
            ]
            self._send(client, json.dumps({"op": "subscribed", "rid": rid}))
            for symbol in symbols:
                with self._lock:
                    client.symbols.add(symbol)
                    history = list(self._history.get(symbol, []))
                data = [{"timestamp": ts, "value": p, "full_accuracy_value": f"{p:.8f}"} for ts, p in history]
                self._envelope(client, {"symbol": symbol, "data": data}, snapshot=True)

    def _binance(self, client: _Client, frame: Any) -> None:
        if isinstance(frame, dict) and frame.get("method") == "SUBSCRIBE":
            with self._lock:
                for stream in frame.get("params", []):
                    client.symbols.add(str(stream).split("@")[0].lower())
            self._send(client, json.dumps({"result": None, "id": frame.get("id")}))
