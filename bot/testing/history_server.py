"""A local stand-in for the price histories `bot download` reads, for tests and demos:
the CLOB's ``/prices-history`` and Binance's ``/api/v3/klines``, from one seeded price path.

    from bot.testing.history_server import HistoryServer

    with GammaServer(series=["btc-updown-5m"]) as gamma, HistoryServer() as history:
        history.add_window(*gamma.token_ids(slug), start_s, end_s)   # a market's two tokens
        history.winner(start_s, end_s)          # "Up" or "Down" on the server's own path
        history.fail_next("/prices-history", status=503)

The underlying (BTC by default) follows a seeded random walk, one price per second. A
window's UP token is priced at P(UP) from that path (``bot.fairvalue.p_up``) and its DOWN
token at one minus it, so books, underlying and the result agree as they do on Polymarket.

``GET /prices-history?market=TOKEN&startTs=S&endTs=E&fidelity=MIN`` answers
``{"history": [{"t": s, "p": price}, ...]}`` every ``fidelity`` minutes (an unknown token
gets an empty history, as the CLOB does). ``GET /api/v3/klines?symbol=BTCUSDT&interval=1m
&startTime=MS&endTime=MS&limit=N`` answers Binance's 12-field arrays (at most 1000 a page).

By hand: ``python -m bot.testing.history_server --port 8082``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.fairvalue import p_up

INTERVALS = {"1s": 1, "1m": 60, "5m": 300}
SIGMA = 0.0004  # per sqrt second


class HistoryServer:
    def __init__(
        self, port: int = 0, *, host: str = "127.0.0.1", seed: int = 5, start_price: float = 97_000.0
    ):
        self.seed = seed
        self.start_price = start_price
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[bool, int, int]] = {}  # token -> (is UP, start s, end s)
        self._path: dict[int, float] = {}  # second -> price, generated on demand from an origin
        self._origin: int | None = None
        self._last = 0
        self._fail: list[tuple[str, int]] = []
        self.requests: list[str] = []
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HistoryServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="history-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HistoryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the data ------------------------------------------------------------------------------
    def add_window(self, up_token: str, down_token: str, start_s: int, end_s: int) -> None:
        with self._lock:
            self._tokens[up_token] = (True, start_s, end_s)
            self._tokens[down_token] = (False, start_s, end_s)

    def fail_next(self, path: str, status: int = 503) -> None:
        with self._lock:
            self._fail.append((path, status))

    def price(self, second: int) -> float:
        """The underlying at a whole second (the same answer for the same seed, always)."""
        with self._lock:
            if self._origin is None:  # the path starts the hour before the first question
                self._origin = second - second % 3600 - 3600
                self._path[self._origin] = self.start_price
                self._last = self._origin
            if second < self._origin:
                raise ValueError(f"no prices before {self._origin}")
            t = self._last
            value = self._path[t]
            while t < second:
                value *= math.exp(random.Random(f"{self.seed}:{t}").gauss(0.0, SIGMA))
                t += 1
                self._path[t] = value
            self._last = max(self._last, t)
            return self._path[second]

    def up_price(self, start_s: int, end_s: int, t: int) -> float:
        return p_up(self.price(t), self.price(start_s), end_s - t, SIGMA)

    def winner(self, start_s: int, end_s: int) -> str:
        return "Up" if self.price(end_s) >= self.price(start_s) else "Down"

    # -- routes --------------------------------------------------------------------------------
    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        with self._lock:
            for i, (prefix, status) in enumerate(self._fail):
                if path.startswith(prefix):
                    del self._fail[i]
                    return status, {"error": "injected failure"}
        if path == "/prices-history":
            return self._history(query)
        if path == "/api/v3/klines":
            return self._klines(query)
        return 404, {"error": f"no route {path}"}

    def _history(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        token = query.get("market", [""])[0]
        try:
            start = int(query["startTs"][0])
            end = int(query["endTs"][0])
            step = 60 * int(query.get("fidelity", ["1"])[0])
        except (KeyError, ValueError):
            return 400, {"error": "startTs, endTs (unix seconds) and fidelity (minutes) expected"}
        info = self._tokens.get(token)
        if info is None or step <= 0:
            return 200, {"history": []}
        is_up, w_start, w_end = info
        points = []
        for t in range(max(start, w_start), min(end, w_end), step):
            p = self.up_price(w_start, w_end, t)
            points.append({"t": t, "p": round(p if is_up else 1 - p, 4)})
        return 200, {"history": points}

    def _klines(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        interval = query.get("interval", ["1m"])[0]
        if interval not in INTERVALS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        if query.get("symbol", [""])[0] != "BTCUSDT":
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        size = INTERVALS[interval]
        try:
            start = int(query["startTime"][0]) // 1000
            end = int(query["endTime"][0]) // 1000
            limit = min(int(query.get("limit", ["500"])[0]), 1000)
        except (KeyError, ValueError):
            return 400, {"code": -1102, "msg": "startTime and endTime expected"}
        first = start + (-start) % size
        rows: list[list[Any]] = []
        for t in range(first, end + 1, size):
            if len(rows) >= limit:
                break
            o, c = self.price(t), self.price(t + size)
            rows.append([t * 1000, f"{o:.2f}", f"{max(o, c):.2f}", f"{min(o, c):.2f}", f"{c:.2f}", "1.0"])
            rows[-1] += [(t + size) * 1000 - 1, "1.0", 1, "0.5", "0.5", "0"]
        return 200, rows

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        self.requests.append(f"GET {handler.path}")
        status, body = self._route(parts.path, parse_qs(parts.query))
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.app._serve(self)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: HistoryServer) -> None:
        super().__init__(address, _Handler)
        self.app = app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args(argv)
    server = HistoryServer(args.port).start()
    print(f"history server on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
