"""The soak (issue 12's "Proof"): `bot run --mode live` rolls through SOAK_HOURS of market
time of 5-minute windows on BTC and ETH (24 h: 576 windows) against the local servers on
127.0.0.1, on a market clock SOAK_SPEED times faster than the wall clock
(TOUCHTRADER_MARKET_CLOCK), with faults injected on a seeded schedule and no person acting.

The servers: Gamma (bot/testing/gamma_server.py) lists the windows on the market clock and
publishes each outcome 30 s after its end; the CLOB (clob_server.py) has every window's
market with a book favouring UP (`canary` buys the favoured side in each window's last
minute, LIVE: signed, posted, matched); the market websocket (ws_market_server.py) carries
the books and a book change every 15 market seconds for each subscribed window and the
resolution; the user websocket (ws_user_server.py) pushes the bot's trades; the price stream
(price_server.py) the TWAP of both coins every 10 market seconds; the Polygon node
(chain_server.py) redeems won positions (`auto_redeem = true`).

Faults, each kind SOAK_FAULTS times (default: one per 4 market hours, at least 2), at seeded
times: the market socket dropped (TCP cut) or silent (longer than `ws_silence_s`), an
out-of-order delta (older timestamp, a book the server never had), a crossed book (a bid
above the ask, never on the server's book), a tick-size change (0.01 -> 0.001 with a book
on the new tick), a late resolution (Gamma and the chain 4 market minutes late), Gamma
answering from a snapshot a minute stale for 5 market minutes, Gamma failing (HTTP 500),
the user socket dropped, the price stream dropped, a frame that does not parse.

Printed (JSON): windows expected, discovered (checked on Gamma and the CLOB), subscribed at
least 60 s before they open, traded, missed; orders posted and duplicates (a window with
more than one order); fills booked in the journal against the bot's trades on the venue
(each once); won positions and their redemptions; positions settled more than once; gaps
and reconnects per connection; orders refused; and the time from a market-websocket
message to the engine thread holding its tick (p50, p99): measured in this process, during
the soak, on the bot's own feed code (bench/ws_feed.py's path) since the subprocess has no
probe; its decision runs on that thread right after.

Gaps are counted from the bot's BOOK_FEED activity lines (a book not trusted, with the
cause; its REST re-read), reconnects from status.json's `feed_connections`.

Env: SOAK_HOURS (market hours, default 24, about 15 minutes; 1 is the quick mode),
SOAK_SPEED (market seconds per wall second, default 100: at 150 on 2 loaded cores the engine
falls behind the market clock by up to a second at times, and a window's last minute, when
`canary` enters, lasts 0.4 s), SOAK_SEED (default 7), SOAK_FAULTS (per kind), SOAK_KINDS
(comma-separated, default all), SOAK_LATENCY_N (market-socket messages timed, default 500).
Exit status 1 when a check fails.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine, read
from bench.ws_feed import COND, DOWN, UP, websocket_figures
from bot.clock import MARKET_CLOCK_ENV
from bot.layout import JOURNAL
from bot.model import iso
from bot.testing.chain_server import ChainServer
from bot.testing.clob_hash import warm_up
from bot.testing.clob_server import ClobServer
from bot.testing.gamma_server import GammaServer
from bot.testing.price_server import PriceServer
from bot.testing.ws_market_server import WsMarketServer
from bot.testing.ws_user_server import WsUserServer

HOURS = float(os.environ.get("SOAK_HOURS", "24"))
SPEED = float(os.environ.get("SOAK_SPEED", "100"))
SEED = int(os.environ.get("SOAK_SEED", "7"))
FAULTS_PER_KIND = int(os.environ.get("SOAK_FAULTS", str(max(2, round(HOURS / 4)))))
LATENCY_N = int(os.environ.get("SOAK_LATENCY_N", "500"))
# SOAK_PROFILE=FILE: the bot's main thread under cProfile (written when it stops)
PROFILE = ["-m", "cProfile", "-o", os.environ["SOAK_PROFILE"]] if os.environ.get("SOAK_PROFILE") else []
COINS = ("btc", "eth")
WINDOW_S = 300
RESOLVE_AFTER_S = 30
LATE_S = 240
BOOK_ASKS = (0.57, 0.45, 0.571, 0.449)  # every ask the servers' books ever have
SPARE = 12  # windows listed on the CLOB beyond the expected ones (a slow start shifts them)
WS_SILENCE_S = 1.5  # wall seconds; a silent-socket fault lasts twice that
KINDS = (
    "ws_drop",
    "ws_silent",
    "out_of_order",
    "crossed_book",
    "tick_change",
    "late_resolution",
    "gamma_stale_cache",
    "gamma_500",
    "user_drop",
    "price_drop",
    "garbled_frame",
)


class Soak:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.wall0 = int(time.time() * 1000)
        grid = WINDOW_S * 1000
        self.market0 = self.wall0 // grid * grid + 60_000  # a window opened a market minute ago
        self.first_s = (self.market0 - 60_000) // 1000
        self.count = int(HOURS * 3600) // WINDOW_S  # expected windows per coin
        self.first_n = 1  # the first expected window: set once the bot is up (`expect_from`)
        self.gamma = GammaServer(
            series=[f"{c}-updown-5m" for c in COINS], clock=self.market_s, resolve_after_s=RESOLVE_AFTER_S
        )
        self.clob = ClobServer(request_log_size=10, default_balance=100_000.0)
        self.ws = WsMarketServer(self.clob.exchange)
        self.user = WsUserServer(self.clob.exchange)
        self.prices = PriceServer(creds=self.clob.creds)
        self.chain = ChainServer(
            self.clob.exchange, owner_of=lambda address: self.clob.api_key, receipt_after=1
        )
        self._actions: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.injected: Counter[str] = Counter()
        self.fault_log: list[tuple[int, str, str, int]] = []  # (market ms, kind, window, sockets on it)
        self.errors: list[str] = []

    # -- the market clock ----------------------------------------------------------------------
    def market_ms(self) -> int:
        return self.market0 + round((time.time() * 1000 - self.wall0) * SPEED)

    def market_s(self) -> float:
        return self.market_ms() / 1000

    def at(self, market_ms: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._actions, (market_ms, self._seq, action))

    # -- the windows ---------------------------------------------------------------------------
    def slug(self, coin: str, n: int) -> str:
        return f"{coin}-updown-5m-{self.first_s + n * WINDOW_S}"

    def windows(self) -> list[tuple[str, int]]:
        return [(c, n) for n in range(0, self.count + SPARE) for c in COINS]

    def expect_from(self, ready_ms: int) -> None:
        """The first expected window opens at least 2 lead times (240 s) after the bot is up."""
        self.first_n = -(-(ready_ms // 1000 + 240 - self.first_s) // WINDOW_S)

    def expected(self) -> list[str]:
        last = self.first_n + self.count
        return [self.slug(c, n) for c, n in self.windows() if self.first_n <= n < last]

    def end_ms(self) -> int:
        """When the last expected window's (possibly late) outcome is redeemed: time to stop."""
        return (self.first_s + (self.first_n + self.count) * WINDOW_S + RESOLVE_AFTER_S + LATE_S + 60) * 1000

    def setup(self) -> None:
        for coin, n in self.windows():
            slug = self.slug(coin, n)
            up, down = self.gamma.token_ids(slug)
            begin = self.first_s + n * WINDOW_S
            end = iso((begin + WINDOW_S) * 1000).replace(".000", "")
            cond = self.gamma.condition_id(slug)
            self.clob.add_market(cond, (up, down), end_date_iso=end, question=slug, fee_rate=0.07)
            self.clob.set_book(up, bids=[(0.55, 100)], asks=[(0.57, 100)])
            self.clob.set_book(down, bids=[(0.43, 100)], asks=[(0.45, 100)])
            self.gamma.set_winner(slug, self.rng.choice(("Up", "Down")))
            for t in range(begin - 120, begin + WINDOW_S, 15):  # the book moves (its size) all along
                self.at(t * 1000, lambda up=up, i=t: self.ws.price_change(up, "BUY", 0.55, 100 + i % 40))
        self.schedule_faults()
        for coin, n in self.windows():  # after the faults: a late resolution moves the time
            slug = self.slug(coin, n)
            self.at(round(self.gamma.resolves_at(slug) * 1000), lambda slug=slug: self.resolve(slug))
        end_ms = (self.first_s + (self.count + SPARE) * WINDOW_S) * 1000
        for t in range(self.market0, end_ms, 10_000):
            for coin, base in zip(COINS, (100_000.0, 3_500.0), strict=True):
                self.at(t, lambda coin=coin, base=base, t=t: self.prices.publish(f"{coin}usd", base, ts_ms=t))

    def resolve(self, slug: str) -> None:
        up, down = self.gamma.token_ids(slug)
        winner = up if self.gamma.winner(slug) == "Up" else down
        self.ws.resolve(self.gamma.condition_id(slug), winner, (up, down))

    def schedule_faults(self) -> None:
        kinds = [k for k in os.environ.get("SOAK_KINDS", ",".join(KINDS)).split(",") if k]
        for kind in KINDS:
            for _ in range(FAULTS_PER_KIND if kind in kinds else 0):
                coin, n = self.rng.choice(COINS), self.rng.randint(4, max(4, self.count))
                slug = self.slug(coin, n)
                begin_ms = (self.first_s + n * WINDOW_S) * 1000
                at_ms = begin_ms + self.rng.randint(0, WINDOW_S - 100) * 1000
                self.at(at_ms, self.fault(kind, slug))

    def fault(self, kind: str, slug: str) -> Callable[[], None]:
        up, down = self.gamma.token_ids(slug)

        def run() -> None:
            self.injected[kind] += 1
            self.fault_log.append((self.market_ms(), kind, slug, self.ws.subscribed(up)))
            if kind == "ws_drop":
                self.ws.drop()
            elif kind == "ws_silent":
                self.ws.silence(True)
                threading.Timer(2 * WS_SILENCE_S, self.ws.silence, (False,)).start()
            elif kind == "out_of_order":  # older than the change before it, and never on the server
                self.ws.out_of_order(up)  # an ask of 0.50
            elif kind == "crossed_book":  # a bid above the ask, never on the server's book
                self.ws.crossed(up)  # a bid of 0.60 (0.601 on the finer tick)
            elif kind == "tick_change":
                self.ws.tick_size_change(up, 0.001)
                self.ws.tick_size_change(down, 0.001)
                self.ws.set_book(up, bids=[(0.551, 100)], asks=[(0.571, 100)])
                self.ws.set_book(down, bids=[(0.429, 100)], asks=[(0.449, 100)])
            elif kind == "gamma_stale_cache":
                self.gamma.cache_age(60)
                self.at(self.market_ms() + WINDOW_S * 1000, lambda: self.gamma.cache_age(0))
            elif kind == "gamma_500":
                self.gamma.fail_next("/events", status=500, count=3)
            elif kind == "user_drop":
                self.user.drop()
            elif kind == "price_drop":
                self.prices.drop()
            elif kind == "garbled_frame":
                self.ws.send_raw('{"event_type": "price_change", "price_changes": [')

        if kind == "late_resolution":  # known ahead: Gamma and the chain publish it late
            self.gamma.resolve_late(slug, LATE_S)
            self.injected[kind] += 1
            return lambda: None
        return run

    def drive(self, until_ms: int, bot: subprocess.Popen[str]) -> None:
        while self.market_ms() < until_ms:
            now = self.market_ms()
            while self._actions and self._actions[0][0] <= now:
                _, _, action = heapq.heappop(self._actions)
                try:
                    action()
                except Exception as exc:  # a server-side slip is reported, never hidden
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            if bot.poll() is not None:
                raise SystemExit(
                    f"the bot exited with {bot.returncode}: {bot.stderr.read() if bot.stderr else ''}"
                )
            time.sleep(0.005)

    # -- the bot -------------------------------------------------------------------------------
    def config(self) -> str:
        series = ", ".join(f'"{c}-updown-5m"' for c in COINS)
        return f"""
heartbeat_s = 0.5
state_refresh_s = 0.5
[polymarket]
host = "{self.clob.url}"
gamma_host = "{self.gamma.url}"
series = [{series}]
market_feed = "websocket"
market_ws_url = "{self.ws.url}"
ws_silence_s = {WS_SILENCE_S}
user_channel = true
user_ws_url = "{self.user.url}"
prices = true
price_ws_url = "{self.prices.url}"
price_silence_s = 5
poll_interval_s = 0.5
discovery_poll_s = 0.1
resolve_poll_s = 0.5
auto_redeem = true
redeem_interval_s = 0.2
rpc_url = "{self.chain.url}"
venue_heartbeat = true
[risk]
# canary buys the favoured side and the seeded outcomes are coin flips: a losing streak or a
# bad day would (rightly) stop entries until the next trading day, and every window must trade
max_consecutive_losses = 100000
daily_loss_limit_usd = 100000
[exits]
stop_loss_pct = 0
take_profit_pct = 0
[strategies]
enabled = ["canary"]
"""

    def start_bot(self, home: Path) -> subprocess.Popen[str]:
        (home / "bot.toml").write_text(self.config())
        api_key, secret, passphrase = self.clob.creds
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMARKET_")}
        env.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            POLYMARKET_PRIVATE_KEY="0x" + secrets.token_hex(32),
            POLYMARKET_API_KEY=api_key,
            POLYMARKET_API_SECRET=secret,
            POLYMARKET_API_PASSPHRASE=passphrase,
        )
        env[MARKET_CLOCK_ENV] = f"{self.wall0}:{self.market0}:{SPEED}"
        return subprocess.Popen(
            [sys.executable, *PROFILE, "-m", "bot", "run", "--home", str(home), "--quiet", "--mode", "live"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stderr.read() if proc.stderr else ""


def figures(soak: Soak, home: Path, status: dict[str, Any]) -> dict[str, Any]:
    with sqlite3.connect(home / "state" / JOURNAL) as db:
        rows = db.execute("SELECT type, market, details FROM activity").fetchall()
        fills = [f for (f,) in db.execute("SELECT fill_id FROM fills")]
        orders = db.execute("SELECT order_id, market_id FROM orders").fetchall()
    slugs = {soak.gamma.condition_id(s): s for s in soak.expected()}
    expected = set(slugs.values())

    def slugs_said(kind: str, *words: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for t, _m, details in rows:
            if t == kind and all(w in details for w in words):
                out.update(s for s in expected if s in details)
        return out

    def leads(words: str, marker: str) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for t, _m, details in rows:
            if t == "DISCOVERY" and words in details:
                slug, _, rest = details.partition(" ")
                if slug in expected:
                    out.setdefault(slug, []).append(float(rest.split(marker)[1].split(" s before")[0]))
        return out

    checked = leads("checked", "checked ")
    subscribed = leads("book subscribed", " subscribed ")
    filled = Counter(slugs[m] for t, m, _d in rows if t == "ORDER_FILLED" and m in slugs)
    resolved = Counter(slugs[m] for t, m, _d in rows if t == "MARKET_RESOLVED" and m in slugs)
    settled = ("(WON;", "(LOST;", "(SPLIT")  # the closing line; "won: awaiting redemption" comes first
    exits = Counter(
        slugs[m] for t, m, d in rows if t == "POSITION_EXIT" and m in slugs and any(w in d for w in settled)
    )
    refused = [d for t, _m, d in rows if t in ("ORDER_REJECTED", "ORDER_ERROR")]
    key = soak.clob.api_key
    exchange = soak.clob.exchange
    venue_orders = exchange.orders(key)
    per_market = Counter(o.get("market") for o in venue_orders)
    off_book = [o for o in venue_orders if float(o["price"]) not in BOOK_ASKS]
    trades = [t for t in exchange._trades if t.order.owner == key and not t.failed]
    venue_fill_ids = [t.id for t in trades]
    won = set()
    for t in trades:
        slug = slugs.get(t.order.market)
        if slug is not None:
            up = soak.gamma.token_ids(slug)[0]
            if (t.order.token == up) == (soak.gamma.winner(slug) == "Up"):
                won.add(t.order.market)
    redeemed = {tx.condition_id for tx in soak.chain.transactions if tx.status == 1}
    redeemed_twice = [c for c in redeemed if len(soak.chain.redeemed(c)) > 1]
    connections = {
        c["id"]: {
            k: c.get(k) for k in ("state", "messages", "reconnects", "gaps", "silent_closes", "unparsed")
        }
        for c in status.get("feed_connections") or []
    }
    book_lines = [d for t, _m, d in rows if t == "BOOK_FEED"]
    leads = sorted(min(v) for v in subscribed.values())
    missed = sorted(expected - set(filled))
    return {
        "windows_expected": len(expected),
        "discovered": len(checked),
        "discovered_60s_ahead": sum(1 for v in checked.values() if min(v) >= 60),
        "subscribed": len(subscribed),
        "subscribed_60s_ahead": sum(1 for v in subscribed.values() if min(v) >= 60),
        "subscribed_twice": sorted(s for s, v in subscribed.items() if len(v) > 1),
        "lead_s_min": leads[0] if leads else None,
        "traded": len(filled),
        "missed": missed,
        "resolved": len(resolved),
        "settled": len(exits),
        "settled_twice": sorted(s for s, c in exits.items() if c > 1),
        "resolved_twice": sorted(s for s, c in resolved.items() if c > 1),
        "orders_journal": len(orders),
        "orders_venue": len(venue_orders),
        "duplicate_orders": sum(c - 1 for c in per_market.values() if c > 1),
        "fills_journal": len(fills),
        "fills_venue": len(venue_fill_ids),
        "fills_missing": len(set(venue_fill_ids) - set(fills)),
        "fills_unknown": len(set(fills) - set(venue_fill_ids)),
        "fills_twice": len(fills) - len(set(fills)),
        "won": len(won),
        "redeemed": len(won & redeemed),
        "redeemed_twice": len(redeemed_twice),
        "orders_off_book": len(off_book),  # at a price only a bad delta showed (0.50, 0.60)
        "orders_refused": refused[:5],
        "orders_refused_n": len(refused),
        "book_gaps": sum(1 for d in book_lines if d.startswith("book not trusted")),
        "book_gaps_healed": sum(1 for d in book_lines if d.endswith("trusted again")),
        "book_gap_causes": dict(
            Counter(
                d.split("(")[1].split(":")[0].split(")")[0]
                for d in book_lines
                if d.startswith("book not trusted")
            )
        ),
        "connections": connections,
    }


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    soak = Soak()
    soak.setup()
    warm_up()  # the local CLOB's order-hash import, paid before the bot's first order
    for server in (soak.gamma, soak.clob, soak.ws, soak.user, soak.prices, soak.chain):
        server.start()
    home = Path(tempfile.mkdtemp(prefix="touchtrader-soak-"))
    began = time.perf_counter()
    bot = soak.start_bot(home)
    deadline = time.monotonic() + 120
    while read(home / "state" / "status.json").get("pid") != bot.pid or bot.poll() is not None:
        if time.monotonic() > deadline or bot.poll() is not None:
            raise SystemExit(f"the bot did not start: {stop(bot)}")
        soak.drive(soak.market_ms() + 1, bot)
    soak.expect_from(soak.market_ms())
    latency: dict[str, Any] = {}

    def probe() -> None:  # the bot's feed path, timed in this process while the soak runs
        clob = ClobServer().start()
        try:
            clob.add_market(COND, (UP, DOWN), end_date_iso="2030-01-01T00:00:00Z")
            latency.update(websocket_figures(clob, LATENCY_N, 5))
        except BaseException as exc:
            latency["error"] = repr(exc)
        finally:
            clob.stop()

    last_ms = soak.end_ms()
    mid_ms = soak.market0 + (last_ms - soak.market0) // 2
    soak.at(mid_ms, lambda: threading.Thread(target=probe, daemon=True).start())
    status: dict[str, Any] = {}
    try:
        soak.drive(last_ms, bot)
        status = read(home / "state" / "status.json")
    finally:
        stderr = stop(bot)
        wall = time.perf_counter() - began
        for server in (soak.gamma, soak.ws, soak.user, soak.prices, soak.chain, soak.clob):
            server.stop()
    result = {
        "bench": "soak",
        "market_hours": HOURS,
        "speed": SPEED,
        "seed": SEED,
        "faults_injected": dict(soak.injected),
        # a book fault sent while the bot did not follow that book (it cannot be tested there)
        "book_faults_unfollowed": sum(
            1
            for _, kind, _, on in soak.fault_log
            if not on and kind in ("out_of_order", "crossed_book", "tick_change")
        ),
        **figures(soak, home, status),
        "message_to_engine_ms": latency.get("message_to_engine_ms", latency),
        "target_p99_ms": 5,
        "server_errors": soak.errors[:5],
        "bot_exit": bot.returncode,
        "bot_stderr_tail": stderr.strip().splitlines()[-3:],
        "wall_s": round(wall, 1),
        "home": str(home),
        "machine": machine(),
        "load": os.getloadavg(),
    }
    checks = {
        "none_missed": not result["missed"],
        "all_subscribed_60s_ahead": result["subscribed_60s_ahead"] == result["windows_expected"],
        "no_duplicate_order": result["duplicate_orders"] == 0,
        "no_order_on_a_bad_book": result["orders_off_book"] == 0,
        "no_order_refused": result["orders_refused_n"] == 0,
        "every_fill_booked_once": result["fills_missing"]
        == result["fills_unknown"]
        == result["fills_twice"]
        == 0,
        "every_win_redeemed": result["redeemed"] == result["won"],
        "settled_once": not result["settled_twice"] and result["settled"] == result["traded"],
        "every_gap_healed": result["book_gaps"] == result["book_gaps_healed"],
    }
    result["checks"] = checks
    print(json.dumps(result, indent=2))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
