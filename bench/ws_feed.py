"""Time from a market-websocket message to the `BookTick` the engine takes, against the
local servers on 127.0.0.1 (bot/testing/ws_market_server.py, bot/testing/clob_server.py).

The path measured is the bot's: the local server sends a ``price_change``; the feed's
socket thread receives and parses it; `PolymarketStreamFeed.next_batch` (on
`BackgroundFeed`'s thread, as in LIVE/DRY_RUN) applies it to the local book and emits the
tick; `BackgroundFeed` wakes the "engine" thread, which takes the batch. The clock starts
just before the server formats and sends the message and stops when the engine thread holds
the tick, so the figure includes JSON encoding, the loopback socket and both thread hops.

For comparison, the REST poller (`PolymarketFeed` at its default 1 s poll) on the same
path: from the book change at the server to the tick the engine takes.

Env: N (messages, default 500), GAP_MS (between messages, default 5), REST_N (default 20).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, percentiles
from bot.feeds.background import BackgroundFeed
from bot.feeds.polymarket import PolymarketFeed
from bot.feeds.polymarket_stream import PolymarketStreamFeed
from bot.model import ONE, BookTick, Market, now_ms
from bot.testing.clob_server import ClobServer
from bot.testing.ws_market_server import WsMarketServer

COND = "0x" + "ab" * 32
UP, DOWN = "111", "222"


class Engine:
    """The engine's side of BackgroundFeed: wait for a wake, take the batch, stamp ticks."""

    def __init__(self, feed: Any) -> None:
        self.woken = threading.Event()
        self.background = BackgroundFeed(feed, self.woken.set, now_ms)
        self.seen: dict[int, int] = {}  # ask size (the message's id) → perf_counter_ns taken
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Engine:
        self.background.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.woken.set()
        self.background.stop()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.woken.wait(1.0)
            self.woken.clear()
            while batch := self.background.next_batch():  # every batch waiting, not one per wake
                for event in batch:
                    if isinstance(event, BookTick):
                        self.seen.setdefault(event.ask_size, time.perf_counter_ns())

    def wait_for(self, key: int, timeout_s: float = 10.0) -> int:
        deadline = time.monotonic() + timeout_s
        while key not in self.seen:
            if time.monotonic() > deadline:
                raise SystemExit(f"no tick for message {key} within {timeout_s} s")
            time.sleep(0.0002)
        return self.seen[key]


def market() -> Market:
    return Market(COND, "BTC", "bench", now_ms(), now_ms() + 3_600_000, token_ids=(UP, DOWN))


def websocket_figures(clob: ClobServer, n: int, gap_ms: float) -> dict[str, Any]:
    from py_clob_client_v2 import ClobClient

    ws = WsMarketServer(clob.exchange).start()
    ws.set_book(UP, bids=[(0.45, 100)], asks=[(0.47, 100)])
    feed = PolymarketStreamFeed(ClobClient(clob.url, 137), [market()], ws.url, poll_interval_s=1.0)
    engine = Engine(feed).start()
    try:
        deadline = time.monotonic() + 20
        while not (ws.subscribed(UP) and feed.market_health(COND)["book"] == "trusted"):
            if time.monotonic() > deadline:
                raise SystemExit("the feed never became ready")
            time.sleep(0.01)
        samples = []
        for i in range(n):
            size = 1 + i % 50 + 1000 * (i + 1)  # unique per message: the tick's ask size tells which
            sent = time.perf_counter_ns()
            ws.price_change(UP, "SELL", 0.46, size)
            taken = engine.wait_for(size * ONE)
            samples.append((taken - sent) / 1e6)
            time.sleep(gap_ms / 1000)
        health = feed.connection_health()[0]
        return {
            "message_to_engine_ms": percentiles(samples),
            "gaps": feed.market_health(COND)["gaps"],
            "messages": health["messages"],
            "unparsed": health["unparsed"],
        }
    finally:
        engine.stop()
        feed.close()
        ws.stop()


def rest_figures(clob: ClobServer, n: int) -> dict[str, Any]:
    from py_clob_client_v2 import ClobClient

    feed = PolymarketFeed(ClobClient(clob.url, 137), [market()], poll_interval_s=1.0)
    engine = Engine(feed).start()
    samples = []
    try:
        for i in range(n):
            time.sleep(random.uniform(0.0, 1.0))  # a change at any phase of the poll
            size = 7 + 1000 * (i + 1)
            sent = time.perf_counter_ns()
            clob.set_book(UP, bids=[(0.45, 100)], asks=[(0.46, size)])
            taken = engine.wait_for(size * ONE, timeout_s=5)
            samples.append((taken - sent) / 1e6)
    finally:
        engine.stop()
    return {"change_to_engine_ms": percentiles(samples), "poll_interval_s": 1.0}


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    n, gap_ms = int(os.environ.get("N", "500")), float(os.environ.get("GAP_MS", "5"))
    rest_n = int(os.environ.get("REST_N", "20"))
    random.seed(12)
    clob = ClobServer().start()
    try:
        clob.add_market(COND, (UP, DOWN), end_date_iso="2030-01-01T00:00:00Z")
        result = {
            "benchmark": "ws_feed",
            "websocket": websocket_figures(clob, n, gap_ms),
            "rest_poller": rest_figures(clob, rest_n),
            "target_p99_ms": 5,
            "machine": machine(),
            "cpu_load_note": os.getloadavg(),
        }
        result["meets_target"] = result["websocket"]["message_to_engine_ms"]["p99"] <= 5
    finally:
        clob.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
