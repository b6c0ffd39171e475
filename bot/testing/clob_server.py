"""A local stand-in for Polymarket's CLOB V2 REST API, for tests and benchmarks.

Point the real ``py-clob-client-v2`` at it::

    from py_clob_client_v2 import ApiCreds, ClobClient, OrderArgs
    from bot.testing.clob_server import ClobServer

    with ClobServer() as server:
        server.add_market("0xc0", tokens=("101", "102"), tick=0.01, min_size=5, fee_rate=0.07)
        server.set_book("101", bids=[(0.48, 100)], asks=[(0.52, 100)])
        client = ClobClient(server.url, 137, key=PRIVATE_KEY, creds=ApiCreds(*server.creds))
        client.create_and_post_order(OrderArgs(token_id="101", price=0.5, size=10, side="BUY"))
        server.cross("101", 0.50, 4)   # another trader sells 4 into our bid: a MAKER fill
        server.fail_next("POST", "/order", status=425)   # the next order hits an engine restart

Layout: ``Exchange`` (bot/testing/clob_exchange.py) holds the venue state (markets, resting
liquidity, orders, trades, balances, heartbeats) behind one lock and knows nothing about HTTP,
so it can be unit-tested alone; bot/testing/clob_wire.py reads the payloads and writes the
rows. ``ClobServer`` (here) serves it over a ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, Nagle
off): routing, L1/L2 auth (the HMAC is checked exactly as the client computes it), fault
injection and a log of received requests (``server.requests``).

Owners are API keys, as in the real API. Shares and collateral are integers with 6 decimals
("micro" units) like the wire format; prices are floats snapped to the market tick. Token ids
must be decimal strings (they are uint256 in the signed order).

Order ids are the signed orders' EIP-712 hashes (``clob_hash``), as at the venue, so a re-sent
signed order is refused as a duplicate. Market orders (FOK/FAK) are refused past 2 decimals in
the maker amount or 4 in the taker amount, as at the venue.

Not modelled: EIP-712 signatures (L1 headers and order signatures are required but not
verified), complementary-token (mint/merge) matching, redemption, builder fees, websockets.

By hand: ``python -m bot.testing.clob_server --port 8080`` seeds a demo market and prints
its URL and API credentials.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.testing.clob_exchange import Exchange
from bot.testing.clob_http import (
    SECRET_HEADERS,
    Call,
    Credentials,
    Fault,
    Handler,
    HTTPServer,
    RecordedRequest,
    Route,
)
from bot.testing.clob_wire import (
    DEFAULT_API_KEY,
    DEFAULT_API_PASSPHRASE,
    DEFAULT_API_SECRET,
    UNAUTHORIZED,
    ClobError,
    Market,
    fmt,
    sign_l2,
)

__all__ = ["ClobServer", "Credentials", "Fault", "RecordedRequest", "main"]


class ClobServer:
    """The CLOB V2 REST API on 127.0.0.1, serving an ``Exchange`` (``server.exchange``).

    ``creds`` are fixed and known (``ApiCreds(*server.creds)``); L1 ``/auth/api-key`` and
    ``/auth/derive-api-key`` also hand out creds derived deterministically from the address.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        api_passphrase: str = DEFAULT_API_PASSPHRASE,
        heartbeat_timeout_s: float = 10.0,
        trade_settle_s: float = 1.0,
        page_size: int = 100,
        default_balance: float = 1_000.0,
        request_log_size: int = 10_000,
    ) -> None:
        self.exchange = Exchange(
            default_balance=default_balance,
            heartbeat_timeout_s=heartbeat_timeout_s,
            trade_settle_s=trade_settle_s,
            page_size=page_size,
        )
        self.api_key, self.api_secret, self.api_passphrase = api_key, api_secret, api_passphrase
        self._keys = {api_key: Credentials(api_key, api_secret, api_passphrase)}
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: deque[RecordedRequest] = deque(maxlen=request_log_size)
        self._stopping = threading.Event()
        self._routes, self._prefix_routes = self._build_routes()
        self._httpd = HTTPServer((host, port), self)  # bound now: .url is known before start()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def creds(self) -> tuple[str, str, str]:
        """(api_key, api_secret, api_passphrase), the order of ``ApiCreds``."""
        return self.api_key, self.api_secret, self.api_passphrase

    def start(self) -> ClobServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="clob-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> ClobServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test API (delegates to the exchange; owner defaults to the fixed api key) -------
    def add_market(self, condition_id: str, tokens: tuple[str, str], **kwargs: Any) -> Market:
        return self.exchange.add_market(condition_id, tokens, **kwargs)

    def set_book(
        self, token: str, bids: Iterable[tuple[float, float]] = (), asks: Iterable[tuple[float, float]] = ()
    ) -> None:
        self.exchange.set_book(token, bids, asks)

    def set_tick(self, token: str, tick: float) -> None:
        self.exchange.set_tick(token, tick)

    def resolve(self, condition_id: str, winner_token: str | None) -> None:
        self.exchange.resolve(condition_id, winner_token)

    def cross(self, token: str, price: float, size: float) -> list[str]:
        return self.exchange.cross(token, price, size)

    def trade_against(self, order_id: str, size: float | None = None) -> str:
        return self.exchange.trade_against(order_id, size)

    def set_balance(self, usdc: float, owner: str | None = None) -> None:
        self.exchange.set_balance(owner or self.api_key, usdc)

    def balance(self, owner: str | None = None) -> float:
        return self.exchange.balance(owner or self.api_key)

    def set_position(self, token: str, shares: float, owner: str | None = None) -> None:
        self.exchange.set_position(owner or self.api_key, token, shares)

    def position(self, token: str, owner: str | None = None) -> float:
        return self.exchange.position(owner or self.api_key, token)

    def creds_for(self, address: str, nonce: int = 0) -> tuple[str, str, str]:
        """The creds L1 auth hands ``address`` (registered, so usable at once)."""
        seed = hashlib.sha256(f"{address.lower()}:{nonce}".encode()).digest()
        creds = Credentials(
            str(uuid.UUID(bytes=seed[:16], version=4)),
            base64.urlsafe_b64encode(hashlib.sha256(seed + b"secret").digest()).decode(),
            hashlib.sha256(seed + b"passphrase").hexdigest(),
            address,
        )
        with self._lock:
            self._keys[creds.api_key] = creds
        return creds.api_key, creds.secret, creds.passphrase

    # -- faults --------------------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def delay_next(self, method: str | None, path: str, seconds: float, count: int = 1) -> Fault:
        """Answer (and apply) the next requests only after ``seconds``."""
        return self.inject(Fault(method, path, "delay", count, delay_s=seconds))

    def fail_next(
        self,
        method: str | None,
        path: str,
        status: int = 500,
        count: int = 1,
        retry_after: float | None = None,
        process: bool = False,
        error: str | None = None,
    ) -> Fault:
        """Answer ``status`` (5xx, 425, 429 gets ``Retry-After: 1`` unless given)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(method, path, "status", count, status, retry_after=retry_after, process=process)
        fault.error = error
        return self.inject(fault)

    def outage(
        self, seconds: float, status: int = 425, path: str = "/", retry_after: float | None = None
    ) -> Fault:
        """Answer every request under ``path`` with ``status`` for ``seconds`` (425: the weekly
        matching-engine restart), with ``Retry-After`` when given."""
        fault = Fault(None, path, "status", 1, status, retry_after=retry_after)
        fault.until = time.time() + seconds
        return self.inject(fault)

    def malformed_next(self, method: str | None, path: str, count: int = 1, process: bool = False) -> Fault:
        return self.inject(Fault(method, path, "malformed", count, process=process))

    def drop_next(self, method: str | None, path: str, count: int = 1, process: bool = False) -> Fault:
        return self.inject(Fault(method, path, "drop", count, process=process))

    def lose_next_response(
        self, method: str = "POST", path: str = "/order", status: int = 500, count: int = 1
    ) -> Fault:
        """Apply the request (the order rests or fills) but answer ``status``; a status of 0
        drops the connection instead. For a timeout, use ``delay_next`` past the client's."""
        kind = "drop" if status == 0 else "status"
        return self.inject(Fault(method, path, kind, count, status or 500, process=True))

    def fill_after_cancel(self, count: int = 1, size: float | None = None) -> None:
        self.exchange.fill_after_cancel(count, size)

    def duplicate_trades(self, count: int = 1) -> None:
        self.exchange.duplicate_trades(count)

    def fail_trades(self) -> list[str]:
        return self.exchange.fail_trades()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- request handling ----------------------------------------------------------------
    def _build_routes(self) -> tuple[dict[tuple[str, str], Route], list[tuple[str, str, Route]]]:
        ex = self.exchange

        def token(c: Call) -> str:
            return c.arg("token_id")

        def history(c: Call) -> Any:
            start, end = c.query.get("startTs"), c.query.get("endTs")
            return ex.prices_history(
                c.arg("market"), float(start) if start else None, float(end) if end else None
            )

        def balance(c: Call) -> Any:
            return ex.balance_allowance(
                c.owner, c.query.get("asset_type", "COLLATERAL"), c.query.get("token_id")
            )

        routes: dict[tuple[str, str], Route] = {
            ("GET", "/ok"): ("", lambda c: "OK"),
            ("GET", "/time"): ("", lambda c: int(ex.clock())),
            ("GET", "/version"): ("", lambda c: {"version": 2}),
            ("GET", "/book"): ("", lambda c: ex.book(token(c))),
            ("GET", "/midpoint"): ("", lambda c: {"mid": fmt(ex.midpoint(token(c)))}),
            ("GET", "/price"): ("", lambda c: {"price": fmt(ex.price(token(c), c.arg("side")))}),
            ("GET", "/spread"): ("", lambda c: {"spread": fmt(ex.spread(token(c)))}),
            ("GET", "/last-trade-price"): ("", lambda c: ex.last_trade_price(token(c))),
            ("GET", "/tick-size"): ("", lambda c: {"minimum_tick_size": ex.market(token(c)).tick}),
            ("GET", "/neg-risk"): ("", lambda c: {"neg_risk": ex.market(token(c)).neg_risk}),
            ("GET", "/fee-rate"): ("", lambda c: {"base_fee": ex.market(token(c)).fee_bps}),
            ("GET", "/markets"): ("", lambda c: ex.markets(c.query.get("next_cursor"))),
            ("GET", "/sampling-markets"): ("", lambda c: ex.markets(c.query.get("next_cursor"))),
            ("GET", "/simplified-markets"): ("", lambda c: ex.markets(c.query.get("next_cursor"), True)),
            ("GET", "/sampling-simplified-markets"): (
                "",
                lambda c: ex.markets(c.query.get("next_cursor"), True),
            ),
            ("GET", "/prices-history"): ("", history),
            ("POST", "/auth/api-key"): ("L1", self._api_key),
            ("GET", "/auth/derive-api-key"): ("L1", self._api_key),
            ("GET", "/auth/api-keys"): ("L2", lambda c: {"apiKeys": [c.owner]}),
            ("GET", "/auth/ban-status/closed-only"): ("L2", lambda c: {"closed_only": False}),
            ("POST", "/order"): ("L2", lambda c: ex.place(c.owner, c.address, c.data)),
            ("POST", "/orders"): ("L2", lambda c: ex.place_many(c.owner, c.address, c.data)),
            ("DELETE", "/order"): ("L2", lambda c: ex.cancel(c.owner, [c.body().get("orderID", "")])),
            ("DELETE", "/orders"): ("L2", lambda c: ex.cancel(c.owner, c.items())),
            ("DELETE", "/cancel-all"): ("L2", lambda c: ex.cancel_all(c.owner)),
            ("DELETE", "/cancel-market-orders"): (
                "L2",
                lambda c: ex.cancel_market(c.owner, c.body().get("market"), c.body().get("asset_id")),
            ),
            ("GET", "/data/orders"): ("L2", lambda c: ex.open_orders(c.owner, c.query)),
            ("GET", "/data/trades"): ("L2", lambda c: ex.trades(c.owner, c.query)),
            ("GET", "/balance-allowance"): ("L2", balance),
            ("GET", "/balance-allowance/update"): ("L2", balance),
            ("POST", "/v1/heartbeats"): (
                "L2",
                lambda c: ex.heartbeat(c.owner, str(c.body().get("heartbeat_id") or "")),
            ),
        }
        prefix_routes: list[tuple[str, str, Route]] = [
            ("GET", "/markets-by-token/", ("", lambda c: ex.markets_by_token(c.tail))),
            ("GET", "/clob-markets/", ("", lambda c: ex.clob_market(c.tail))),
            ("GET", "/markets/", ("", lambda c: ex.market_info(c.tail))),
            ("GET", "/data/order/", ("L2", lambda c: ex.order(c.owner, c.tail))),
        ]
        return routes, prefix_routes

    def _api_key(self, c: Call) -> dict[str, str]:
        if not c.headers.get("POLY_NONCE", "0").isdigit():
            raise ClobError("Invalid L1 Request headers", 401)
        key, secret, passphrase = self.creds_for(
            c.headers["POLY_ADDRESS"], int(c.headers.get("POLY_NONCE") or 0)
        )
        return {"apiKey": key, "secret": secret, "passphrase": passphrase}

    def serve(self, h: Handler) -> None:
        split = urlsplit(h.path)
        method, path = h.command, split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length > 0 else b""
        headers = {k.upper(): v for k, v in h.headers.items()}
        self._record(method, path, query, headers, body)
        fault = self._take_fault(method, path)
        if fault is not None and fault.delay_s > 0 and self._stopping.wait(fault.delay_s):
            h.close_connection = True
            return
        if fault is not None and fault.kind != "delay" and not fault.process:
            self._send_fault(h, fault)
            return
        try:
            status, payload = self._dispatch(method, path, query, headers, body)
        except Exception as exc:  # a bug here must surface in the test, not hang it
            status, payload = 500, {"error": f"internal error: {exc!r}"}
        if fault is not None and fault.kind != "delay":
            self._send_fault(h, fault)
        else:
            self._send(h, status, json.dumps(payload, separators=(",", ":")).encode())

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        route, tail = self._routes.get((method, path)), ""
        for m, prefix, candidate in self._prefix_routes if route is None else ():
            if m == method and path.startswith(prefix) and len(path) > len(prefix):
                route, tail = candidate, path[len(prefix) :]
                break
        if route is None:
            return 404, {"error": f"{method} {path} not found"}
        level, handler = route
        owner, address = "", None
        if level == "L1" and not all(
            headers.get(h) for h in ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP")
        ):
            return 401, {"error": "Invalid L1 Request headers"}
        if level == "L2":
            auth = self._authenticate(method, path, headers, body)
            if auth is None:
                return 401, {"error": UNAUTHORIZED}
            owner, address = auth
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return 400, {"error": "Invalid payload"}
        try:
            return 200, handler(Call(query, data, headers, owner, address, tail))
        except ClobError as exc:
            return exc.status, {"error": exc.message}

    def _authenticate(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, str | None] | None:
        with self._lock:
            creds = self._keys.get(headers.get("POLY_API_KEY", ""))
        signature, timestamp, address = (
            headers.get(h) for h in ("POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_ADDRESS")
        )
        if creds is None or not signature or not timestamp or not address:
            return None
        if headers.get("POLY_PASSPHRASE") != creds.passphrase:
            return None
        if creds.address is not None and creds.address.lower() != address.lower():
            return None
        expected = sign_l2(creds.secret, timestamp, method, path, body.decode("utf-8", "replace"))
        if not hmac.compare_digest(expected, signature):
            return None
        return creds.api_key, creds.address

    def _record(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> None:
        text = body.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        safe = {k: v for k, v in headers.items() if k not in SECRET_HEADERS}
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, safe, parsed, time.time()))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self._faults):
                if fault.until is not None and time.time() >= fault.until:
                    self._faults.remove(fault)
                    continue
                if fault.matches(method, path) and fault.until is not None:
                    return fault
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _send_fault(self, h: Handler, fault: Fault) -> None:
        if fault.kind == "drop":
            h.close_connection = True
        elif fault.kind == "malformed":
            self._send(h, 200, b'{"success": true, "orderID": "0x')
        else:
            extra = {} if fault.retry_after is None else {"Retry-After": fmt(fault.retry_after)}
            error = {"error": fault.error or HTTPStatus(fault.status).phrase}
            self._send(h, fault.status, json.dumps(error).encode(), extra)

    @staticmethod
    def _send(h: Handler, status: int, body: bytes, extra: Mapping[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)


DEMO_CONDITION = "0x" + "de" * 32
DEMO_TOKENS = (
    "71321045679252212594626385532706912750332728571942532289631379312455583992563",
    "52114319501245915516055106046884209969926127482827954674443846427813813222426",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Polymarket CLOB V2 stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    server = ClobServer(args.port, host=args.host).start()
    server.add_market(
        DEMO_CONDITION,
        DEMO_TOKENS,
        tick=0.01,
        min_size=5,
        fee_rate=0.07,
        question="Demo: will BTC be up in 15 minutes?",
    )
    server.set_book(DEMO_TOKENS[0], bids=[(0.48, 200), (0.47, 500)], asks=[(0.52, 200), (0.53, 500)])
    server.set_book(DEMO_TOKENS[1], bids=[(0.47, 200), (0.46, 500)], asks=[(0.51, 200), (0.52, 500)])
    info = {
        "url": server.url,
        "chain_id": 137,
        "api_key": server.api_key,
        "api_secret": server.api_secret,
        "api_passphrase": server.api_passphrase,
        "condition_id": DEMO_CONDITION,
        "tokens": DEMO_TOKENS,
    }
    print(json.dumps(info, indent=2), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
