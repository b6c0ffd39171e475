"""Time from a price-stream message to the engine's thread, against the local price server
on 127.0.0.1 (bot/testing/price_server.py, PolyBolt's ``price.crypto.twap`` shapes).

The path measured is the bot's: the server sends a TWAP envelope; the `PriceSocket` thread
receives and parses it and queues it, waking the "engine"; the engine thread takes it in
`FairValueFeed.next_batch` and hands it to the fair-value model (where the clock stops), then
decorates the market's last book with the new P(UP). The clock starts just before the
server formats and sends the message, so the figure includes JSON, the loopback socket and
the thread hop.

The user channel on the same terms: the local user websocket (bot/testing/ws_user_server.py)
sends a trade event; `UserChannel`'s thread receives it and wakes the "engine", which takes
the row (where the clock stops; booking it is the venue's parser, as for a polled trade).

Env: N (messages, default 500), GAP_MS (between messages, default 5).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, percentiles
from bot.fairvalue import FairValue
from bot.feeds.fair_feed import FairValueFeed
from bot.feeds.price_socket import PriceSocket
from bot.model import BookTick, Market, MarketEvent, WindowOpened, now_ms
from bot.testing.clob_exchange import Exchange
from bot.testing.price_server import PriceServer
from bot.testing.ws_user_server import WsUserServer
from bot.venues.polymarket.user_channel import UserChannel

CREDS = ("bench-key", "YmVuY2g=", "bench-pass")


class Books:
    """The book feed: one market and one book, then idle (the background feed's shape)."""

    def __init__(self, market: Market) -> None:
        self.pending: list[MarketEvent] = [
            WindowOpened(now_ms(), market),
            BookTick(now_ms(), market.market_id, 450_000, 10**8, 470_000, 10**8),
        ]

    def peek_ms(self) -> int | None:
        return now_ms() + 1_000

    def next_batch(self) -> list[MarketEvent]:
        out, self.pending = self.pending, []
        return out

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class TimedFairValue(FairValue):
    """The shared model, noting when the engine's thread hands it each price."""

    def __init__(self, sigma: float) -> None:
        super().__init__(sigma)
        self.seen: dict[int, int] = {}  # observation ts -> perf_counter_ns

    def on_price(self, underlying: str, ts_ms: int, price: float) -> None:
        self.seen.setdefault(ts_ms, time.perf_counter_ns())
        super().on_price(underlying, ts_ms, price)


def price_figures(n: int, gap_ms: float) -> dict[str, Any]:
    start = now_ms() - 1_000
    market = Market("0xbench", "BTC", "bench", start, start + 3_600_000, token_ids=("1", "2"))
    woken = threading.Event()
    stop = threading.Event()
    fair = TimedFairValue(0.0001)
    with PriceServer(creds=CREDS) as server:
        server.publish("btcusd", 100_000.0, ts_ms=start + 500)

        def connect(source: str, deliver: Any) -> PriceSocket:
            return PriceSocket(source, server.url, deliver, creds=lambda: CREDS, silence_s=10)

        feed = FairValueFeed(Books(market), connect, fair, woken.set, now_ms)
        ticks: list[BookTick] = []

        def engine() -> None:
            while not stop.is_set():
                woken.wait(1.0)
                woken.clear()
                ticks.extend(e for e in feed.next_batch() if isinstance(e, BookTick))

        feed.next_batch()  # the market opens: the socket is made and subscribes
        feed.start()
        thread = threading.Thread(target=engine, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while fair.strike("0xbench") is None:
                if time.monotonic() > deadline:
                    raise SystemExit("the price feed never gave the strike")
                time.sleep(0.01)
            samples = []
            base = now_ms() + 1_000
            for i in range(n):
                ts = base + i  # unique per message: the observation time tells which
                sent = time.perf_counter_ns()
                server.publish("btcusd", 100_000.0 + (i % 40) * 5, ts_ms=ts)
                wait_until = time.monotonic() + 10
                while ts not in fair.seen:
                    if time.monotonic() > wait_until:
                        raise SystemExit(f"price {i} never reached the engine")
                    time.sleep(0.0002)
                samples.append((fair.seen[ts] - sent) / 1e6)
                time.sleep(gap_ms / 1000)
            health = feed.connection_health()[0]
            return {
                "message_to_engine_ms": percentiles(samples),
                "messages": health["messages"],
                "prices": health["prices"],
                "gaps": health["gaps"],
                "unparsed": health["unparsed"],
                "repriced_ticks": len(ticks),
            }
        finally:
            stop.set()
            woken.set()
            thread.join(2)
            feed.stop()


def user_figures(n: int, gap_ms: float) -> dict[str, Any]:
    woken = threading.Event()
    stop = threading.Event()
    seen: dict[str, int] = {}
    with WsUserServer(Exchange()) as server:
        channel = UserChannel(server.url, lambda: CREDS, woken.set, silence_s=30).start()

        def engine() -> None:
            while not stop.is_set():
                woken.wait(1.0)
                woken.clear()
                channel.take_resync()
                for row in channel.take_rows():
                    seen.setdefault(row["id"], time.perf_counter_ns())

        thread = threading.Thread(target=engine, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not server.signed_in():
                if time.monotonic() > deadline:
                    raise SystemExit("the user channel never signed in")
                time.sleep(0.01)
            samples = []
            for i in range(n):
                trade_id = f"bench-{i}"
                row = {"event_type": "trade", "type": "TRADE", "id": trade_id, "status": "MATCHED"}
                sent = time.perf_counter_ns()
                server.send_raw(json.dumps(row))
                wait_until = time.monotonic() + 10
                while trade_id not in seen:
                    if time.monotonic() > wait_until:
                        raise SystemExit(f"trade {i} never reached the engine")
                    time.sleep(0.0002)
                samples.append((seen[trade_id] - sent) / 1e6)
                time.sleep(gap_ms / 1000)
            health = channel.health_row()
            return {
                "message_to_engine_ms": percentiles(samples),
                "messages": health["messages"],
                "reconnects": health["reconnects"],
                "unparsed": health["unparsed"],
            }
        finally:
            stop.set()
            woken.set()
            thread.join(2)
            channel.stop()


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    n, gap_ms = int(os.environ.get("N", "500")), float(os.environ.get("GAP_MS", "5"))
    result: dict[str, Any] = {
        "benchmark": "live_streams",
        "price_stream": price_figures(n, gap_ms),
        "user_channel": user_figures(n, gap_ms),
        "target_p99_ms": 5,
        "machine": machine(),
        "cpu_load_note": os.getloadavg(),
    }
    result["meets_target"] = all(
        result[k]["message_to_engine_ms"]["p99"] <= 5 for k in ("price_stream", "user_channel")
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
