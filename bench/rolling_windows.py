"""Rolling windows: how long before each window opens its book is subscribed (the lead; and
how long before it was checked), and what one roll costs, against the local Gamma and CLOB
servers on 127.0.0.1.

The roller (bot/markets/roller.py) looks at Gamma every `POLL_S` of market time, as `bot run`
does every `discovery_poll_s`; here the market clock is stepped instead of waited for, so
hours of windows pass in seconds, and each look is timed on the wall clock. Every window is
checked on the CLOB through the real `PolymarketVenue` (as in DRY_RUN/LIVE), handed to the
feed thread's `RollingFeed` (subscribed on the REST poller twice the lead, 120 s, before it
opens), opened at its start, resolved
from Gamma and dropped.

Printed (JSON): windows expected, subscribed, opened, resolved and missed; the lead per
window in market seconds (min, p50); the wall time of one look (p50, p99); the cost per
rolled window: the roller's wall time, its Gamma requests, its CLOB checks, the market-status
reads (the check's and the poller's resolution backstop) and the REST poller's book reads
(one a poll while subscribed: 120 s plus the window), each divided by the
windows rolled.

Env: SERIES (default "btc-updown-5m,eth-updown-5m"), HOURS (market hours, default 4),
POLL_S (market seconds between looks, default 5).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, percentiles
from bot.feeds.polymarket import PolymarketFeed
from bot.feeds.rolling import RollingFeed
from bot.markets.client import GammaClient
from bot.markets.discovery import Discovery
from bot.markets.roller import Roller, clob_check
from bot.markets.series import parse_series
from bot.model import WindowOpened, WindowResolved
from bot.testing.clob_server import ClobServer
from bot.testing.gamma_server import GammaServer
from bot.venues.polymarket import PolymarketCredentials, PolymarketVenue

SERIES = [s for s in os.environ.get("SERIES", "btc-updown-5m,eth-updown-5m").split(",") if s]
HOURS = float(os.environ.get("HOURS", "4"))
POLL_S = float(os.environ.get("POLL_S", "5"))
LEAD_S = 60


def counted(method: Any, name: str, calls: dict[str, int]) -> Any:
    def call(*args: Any) -> Any:
        calls[name] += 1
        return method(*args)

    return call


def main() -> None:
    series = [parse_series(s) for s in SERIES]
    longest = max(s.length_s for s in series)
    start_s = int(time.time()) // longest * longest + longest // 2  # mid-window: the first is missed
    end_s = start_s + int(HOURS * 3600)
    sim = [start_s * 1000]

    gamma = GammaServer(series=SERIES, clock=lambda: sim[0] / 1000, resolve_after_s=30).start()
    clob = ClobServer().start()
    expected = []
    for s in series:
        first = start_s - start_s % s.length_s
        for begin in range(first, end_s + 2 * s.length_s, s.length_s):
            slug = s.slug(begin)
            up, down = gamma.token_ids(slug)
            clob.add_market(gamma.condition_id(slug), (up, down), question=slug, fee_rate=0.07)
            clob.set_book(up, bids=[(0.48, 100)], asks=[(0.52, 100)])
            # a window that opens after the first look and ends before the last is expected
            if begin - LEAD_S >= start_s and begin + s.length_s + 60 <= end_s:
                expected.append(gamma.condition_id(slug))
    reader = PolymarketVenue(clob.url, credentials=PolymarketCredentials("0x" + secrets.token_hex(32)))
    calls = dict.fromkeys(("load_market", "get_market", "get_order_book"), 0)
    for name in calls:  # counted on the venue: the server keeps only its last requests
        setattr(reader, name, counted(getattr(reader, name), name, calls))
    discovery = Discovery(
        GammaClient(gamma.url), SERIES, lead_ms=LEAD_S * 1000, refresh_ms=60_000, resolve_poll_ms=15_000
    )
    roller = Roller(discovery, lambda: sim[0], check=clob_check(reader), gamma_host=gamma.url)
    feed = RollingFeed(PolymarketFeed(reader, [], 1.0, clock=lambda: sim[0]), roller, lambda: sim[0])

    opened: dict[str, int] = {}
    resolved: set[str] = set()
    feed_s: list[float] = []
    began = time.perf_counter()
    while sim[0] < end_s * 1000:
        roller.turn()
        t0 = time.perf_counter()
        for event in feed.next_batch():
            if isinstance(event, WindowOpened):
                opened.setdefault(event.market.market_id, event.ts_ms - event.market.window_start_ms)
            elif isinstance(event, WindowResolved):
                resolved.add(event.market_id)
        feed_s.append(time.perf_counter() - t0)
        sim[0] += round(POLL_S * 1000)
    elapsed = time.perf_counter() - began
    checks, statuses, books = calls["load_market"], calls["get_market"], calls["get_order_book"]
    gamma_requests = len(gamma.requests)
    gamma.stop()
    clob.stop()

    rolled = max(1, roller.counts["admitted"])
    leads = [ms / 1000 for ms in feed.leads_ms]
    checked = [ms / 1000 for ms in roller.leads_ms]
    print(
        json.dumps(
            {
                "bench": "rolling_windows",
                "series": SERIES,
                "market_hours": HOURS,
                "poll_s": POLL_S,
                "windows_expected": len(expected),
                "admitted": roller.counts["admitted"],
                "subscribed": len(feed.leads_ms),
                "opened": len(opened),
                "resolved": len(resolved),
                "missed": sorted(set(expected) - set(opened)),
                "not_resolved": len(set(expected) - resolved),
                "lead_s": {"min": min(leads), **percentiles(leads)} if leads else None,
                "checked_ahead_s": {"min": min(checked), **percentiles(checked)} if checked else None,
                "opened_late_s": percentiles([ms / 1000 for ms in opened.values()]) if opened else None,
                "look_ms": percentiles([s * 1000 for s in roller.turn_s]),
                "feed_batch_ms": percentiles([s * 1000 for s in feed_s]),
                "looks": roller.turns,
                "per_window": {
                    "roller_ms": round(roller.turns_s * 1000 / rolled, 3),
                    "gamma_requests": round(gamma_requests / rolled, 2),
                    "clob_checks": round(checks / rolled, 2),
                    "market_status_reads": round(statuses / rolled, 2),
                    "book_reads": round(books / rolled, 2),
                },
                "wall_s": round(elapsed, 2),
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
