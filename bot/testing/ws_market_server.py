"""A local stand-in for Polymarket's CLOB market websocket (``/ws/market``), for tests and
benchmarks, on 127.0.0.1 (bot/testing/ws_server.py: ``websockets`` sync server).

It speaks the documented protocol (../shared/polymarket-realtime.md §2): the first frame
``{"type":"market","assets_ids":[...],"custom_feature_enabled":true}`` subscribes and gets a
``book`` snapshot per asset (the initial dump, one JSON array); ``{"operation":"subscribe"|
"unsubscribe","assets_ids":[...]}`` changes the set (a repeated asset is refused, as at the
venue); the text ``PING`` is answered ``PONG``. Events go only to connections subscribed to
their asset, in the documented shapes::

    with ClobServer() as clob, WsMarketServer(clob.exchange) as ws:
        clob.add_market("0xc0", ("101", "102"))
        ws.set_book("101", bids=[(0.48, 100)], asks=[(0.52, 100)])   # REST and socket agree
        ws.price_change("101", "BUY", 0.49, 50)    # level 0.49 now 50 shares, both sides see it
        ws.tick_size_change("101", 0.001)
        ws.resolve("0xc0", "101", ("101", "102"))

With an ``Exchange`` (bot/testing/clob_server.py) every book change is also written to it,
so REST ``/book`` reads (the feed's resyncs) see the same book. Faults: `drop()` cuts every
connection without a close frame; `silence(True)` stops all messages and PONGs (protocol
pings still answered: the socket looks open, as in the venue's silent stalls);
`price_change(..., ts_ms=old)` sends a delta out of order; `price_change(..., book=False)`
sends one the server's book never had (a missed message for the client's check);
`send_raw(text)` sends anything (a garbled frame); `out_of_order(token)` sends a change and
then one 50 ms older that the server's book never had; `crossed(token)` a bid above the
best ask that the server's book never had (REST stays uncrossed); a tick-size change is
`tick_size_change` (the exchange's REST tick changes with it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from bot.testing.clob_exchange import Exchange
from bot.testing.ws_server import WsClient, WsServer

Levels = Iterable[tuple[float, float]]


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def _side(levels: Levels) -> dict[float, float]:
    return {p: s for p, s in levels if s > 0}


def _levels(items: Iterable[tuple[float, float]]) -> list[dict[str, str]]:
    return [{"price": _fmt(p), "size": _fmt(s)} for p, s in items]


class _Client(WsClient):
    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        self.assets: set[str] = set()


class WsMarketServer(WsServer):
    name = "ws-market"
    forget_on_drop = True

    def __init__(self, exchange: Exchange | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.exchange = exchange
        self._books: dict[str, dict[str, dict[float, float]]] = {}
        self._markets: dict[str, str] = {}  # token → condition id

    @property
    def url(self) -> str:
        return self._url("/ws/market")

    def subscribed(self, asset_id: str) -> int:
        """How many connections follow `asset_id` now."""
        return self._count(lambda c: asset_id in c.assets)

    # -- books and events -----------------------------------------------------------------

    def add_token(self, token: str, market: str) -> None:
        """Without an exchange: which market a token belongs to."""
        self._markets[token] = market

    def set_book(self, token: str, bids: Levels = (), asks: Levels = (), send: bool = True) -> None:
        """Replace the book; subscribers get a ``book`` snapshot (unless ``send=False``)."""
        self._books[token] = {"BUY": _side(bids), "SELL": _side(asks)}
        self._to_exchange(token)
        if send:
            self._publish(token, self._book_message(token))

    def price_change(
        self,
        token: str,
        side: str,
        price: float,
        size: float,
        *,
        ts_ms: int | None = None,
        book: bool = True,
    ) -> None:
        """Set one level's total (0 removes it) and send the ``price_change``; with
        ``book=False`` the server's book is left as it was (a change the client must doubt)."""
        levels = self._book(token)[side]
        before = dict(levels)
        if size > 0:
            levels[price] = size
        else:
            levels.pop(price, None)
        bid, ask = self._top(token)
        if book:
            self._to_exchange(token)
        else:
            self._books[token][side] = before
        change = {
            "asset_id": token,
            "price": _fmt(price),
            "size": _fmt(size),
            "side": side,
            "hash": f"{token[:8]}{int(time.time() * 1000)}",
            "best_bid": _fmt(bid),
            "best_ask": _fmt(ask),
        }
        message = {
            "event_type": "price_change",
            "market": self._market_of(token),
            "price_changes": [change],
            "timestamp": str(ts_ms if ts_ms is not None else self._now_ms()),
        }
        self._publish(token, message)

    def tick_size_change(self, token: str, new_tick: float, old_tick: float = 0.01) -> None:
        if self.exchange is not None:
            self.exchange.set_tick(token, new_tick)
        message = {
            "event_type": "tick_size_change",
            "asset_id": token,
            "market": self._market_of(token),
            "old_tick_size": _fmt(old_tick),
            "new_tick_size": _fmt(new_tick),
            "timestamp": str(self._now_ms()),
        }
        self._publish(token, message)

    def last_trade(self, token: str, price: float, size: float, side: str = "BUY") -> None:
        message = {
            "event_type": "last_trade_price",
            "asset_id": token,
            "market": self._market_of(token),
            "price": _fmt(price),
            "side": side,
            "size": _fmt(size),
            "fee_rate_bps": "0",
            "timestamp": str(self._now_ms()),
        }
        self._publish(token, message)

    def resolve(self, market: str, winner: str | None, tokens: tuple[str, str]) -> None:
        """``market_resolved`` (UP token first in `tokens`) to their subscribers (and the exchange);
        `winner` None: a 50/50 split, sent with no winning token and ``winning_outcome`` "50-50"
        (the real shape of a split message is not documented)."""
        if self.exchange is not None:
            self.exchange.resolve(market, winner)
        message = {
            "event_type": "market_resolved",
            "id": "1",
            "question": f"Market {market}?",
            "market": market,
            "slug": "",
            "description": "",
            "assets_ids": list(tokens),
            "outcomes": ["Up", "Down"],
            "winning_asset_id": winner or "",
            "winning_outcome": "50-50" if winner is None else "Up" if winner == tokens[0] else "Down",
            "timestamp": str(self._now_ms()),
        }
        for token in tokens:
            self._publish(token, message)

    # -- faults -------------------------------------------------------------------------

    def out_of_order(self, token: str, price: float = 0.50, size: float = 999) -> None:
        """A change at the best bid's level (kept), then a SELL at `price` stamped 50 ms
        earlier that the server's book never had: a client that applies it shows a wrong ask."""
        bid = self._top(token)[0]
        now = self._now_ms()
        self.price_change(token, "BUY", bid, self._book(token)["BUY"].get(bid, 1.0), ts_ms=now)
        self.price_change(token, "SELL", price, size, ts_ms=now - 50, book=False)

    def crossed(self, token: str, over: float = 0.03, size: float = 50) -> None:
        """A BUY `over` above the best ask, never on the server's book (REST stays uncrossed)."""
        ask = self._top(token)[1]
        self.price_change(token, "BUY", round(ask + over, 6), size, book=False)

    # -- internals ----------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int((self.exchange.clock() if self.exchange else time.time()) * 1000)

    def _market_of(self, token: str) -> str:
        if token in self._markets:
            return self._markets[token]
        if self.exchange is not None:
            return self.exchange.market(token).condition_id
        raise KeyError(f"unknown token {token}")

    def _book(self, token: str) -> dict[str, dict[float, float]]:
        if token not in self._books:
            self._books[token] = {"BUY": {}, "SELL": {}}
            if self.exchange is not None:
                rest = self.exchange.book(token)
                for side, key in (("BUY", "bids"), ("SELL", "asks")):
                    for level in rest[key]:
                        self._books[token][side][float(level["price"])] = float(level["size"])
        return self._books[token]

    def _top(self, token: str) -> tuple[float, float]:
        book = self._book(token)
        return max(book["BUY"], default=0.0), min(book["SELL"], default=1.0)

    def _to_exchange(self, token: str) -> None:
        if self.exchange is not None:
            book = self._books[token]
            self.exchange.set_book(token, bids=book["BUY"].items(), asks=book["SELL"].items())

    def _book_message(self, token: str) -> dict[str, Any]:
        book = self._book(token)
        message: dict[str, Any] = {
            "event_type": "book",
            "asset_id": token,
            "market": self._market_of(token),
            # as the REST book: bids ascending, asks descending (best last)
            "bids": _levels(sorted(book["BUY"].items())),
            "asks": _levels(sorted(book["SELL"].items(), reverse=True)),
            "timestamp": str(self._now_ms()),
            "hash": f"0x{abs(hash(json.dumps(book, sort_keys=True, default=str))):x}",
        }
        if self.exchange is not None:
            market = self.exchange.market(token)
            message["tick_size"] = _fmt(market.tick)
            message["min_order_size"] = _fmt(market.min_size)
        return message

    def _publish(self, token: str, message: dict[str, Any]) -> None:
        self._broadcast(
            json.dumps(message, separators=(",", ":")), self._clients_where(lambda c: token in c.assets)
        )

    def _send(self, client: Any, text: str) -> bool:
        """Nothing goes out while silent (PONG and `send_raw` too)."""
        return not self._silent and super()._send(client, text)

    def _subscribe(self, client: _Client, assets: list[str]) -> None:
        new = [a for a in assets if a not in client.assets]
        client.assets.update(new)
        dump = [self._book_message(a) for a in new if a in self._books or self.exchange is not None]
        if dump:
            self._send(client, json.dumps(dump, separators=(",", ":")))

    def _client(self, conn: Any) -> _Client:
        return _Client(conn)

    def _on_frame(self, client: _Client, frame: Any) -> bool:
        self.received.append(frame)
        if frame == "PING":
            self._send(client, "PONG")
            return True
        try:
            body = json.loads(frame)
        except ValueError:
            self._send(client, json.dumps({"error": "invalid message"}))
            return True
        assets = [str(a) for a in body.get("assets_ids") or []]
        operation = body.get("operation")
        if body.get("type") == "market" or operation == "subscribe":
            repeated = [a for a in assets if a in client.assets]
            if repeated and operation == "subscribe":
                self._send(client, json.dumps({"error": f"duplicate assets: {repeated}"}))
                return True
            self._subscribe(client, assets)
        elif operation == "unsubscribe":
            client.assets.difference_update(assets)
        return True
