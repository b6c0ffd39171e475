"""A slow venue must not stall the bot (issue 9, case 7): `bot run --mode live` against the
local CLOB server with every ``GET /book`` and every order and trade read (``/data/orders``,
``/data/trades``, ``/data/order/{id}``) answered after 0, 1 or 6 s.

`SLOW_PATHS=/book` slows the book reads only.
Two markets, so one poll of the books takes twice the latency (the set-up in which the
heartbeat went 12 s between beats). For each latency, over `SECONDS` of running:
- the gaps between the bot's ``POST /v1/heartbeats`` as the server received them
  (target: max <= 5 s; the venue cancels every order after ~10 s without one);
- `touch controls/PAUSE` until state/status.json shows PAUSED (and `rm` until ACTIVE),
  read every 0.2 ms (target p99 <= 50 ms).
Each bot rests one order per market before the latency starts, and the figures say whether
the venue's dead-man switch cancelled them.

Then (`POST_LATENCIES`, default 3 s; empty to skip) PAUSE while an entry's ``POST /order``
is in flight: order posts stay on the engine's thread, so this measures how long PAUSE waits.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine, percentiles, read, wait_for, wait_state
from bot.testing.clob_server import ClobServer

KEY = "0x" + "11" * 32
MARKETS = {"0x" + "ab" * 32: ("111", "222"), "0x" + "cd" * 32: ("333", "444")}
SECONDS = float(os.environ.get("RUN_S", "40"))
LATENCIES = [float(x) for x in os.environ.get("LATENCIES", "0,1,6").split(",")]
POST_LATENCIES = [float(x) for x in os.environ.get("POST_LATENCIES", "3").split(",") if x]
SLOW_PATHS = os.environ.get("SLOW_PATHS", "/book,/data").split(",")  # /data: the order and trade poll


def config(url: str) -> str:
    listed = ", ".join(f'"{m}"' for m in MARKETS)
    return f"""
[polymarket]
host = "{url}"
markets = [{listed}]
venue_heartbeat = true
[strategies]
enabled = ["tests.live_strategies:BuyOnce"]
[strategies.params.buy_once]
at = "bid"
"""


def start_live(paused: bool = False) -> tuple[ClobServer, Path, subprocess.Popen[bytes]]:
    """The local CLOB server with both markets' books, and `bot run --mode live` against it in a
    new home (with controls/PAUSE already there when `paused`)."""
    server = ClobServer().start()
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition, (up, down) in MARKETS.items():
        server.add_market(condition, (up, down), end_date_iso=end, question=f"bench {condition[:6]}")
        server.set_book(up, bids=[(0.45, 100)], asks=[(0.47, 100)])
        server.set_book(down, bids=[(0.53, 100)], asks=[(0.55, 100)])
    home = Path(tempfile.mkdtemp(prefix="touchtrader-bench-"))
    (home / "bot.toml").write_text(config(server.url))
    if paused:
        (home / "controls").mkdir()
        (home / "controls" / "PAUSE").touch()
    api_key, secret, passphrase = server.creds
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "POLYMARKET_PRIVATE_KEY": KEY,
        "POLYMARKET_API_KEY": api_key,
        "POLYMARKET_API_SECRET": secret,
        "POLYMARKET_API_PASSPHRASE": passphrase,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--home", str(home), "--mode", "live", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    return server, home, proc


def run(latency: float) -> dict[str, object]:
    server, home, proc = start_live()
    status = home / "state" / "status.json"
    pause = home / "controls" / "PAUSE"
    pause_ms: list[float] = []
    resume_ms: list[float] = []
    try:
        wait_for(lambda: read(status).get("pid") == proc.pid, 60, proc)
        wait_for(lambda: len(server.exchange.orders(live_only=True)) == 2, 60, proc)
        if latency:
            for path in SLOW_PATHS:
                server.delay_next("GET", path, latency, count=10**9)
        slow_from = time.time()
        time.sleep(SECONDS / 2)  # the heartbeat alone, orders resting
        resting = len(server.exchange.orders(live_only=True))
        deadline = time.monotonic() + SECONDS / 2
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            pause.touch()
            pause_ms.append((wait_state(status, "PAUSED", 30) - t0) * 1000)
            t0 = time.perf_counter()
            pause.unlink()
            resume_ms.append((wait_state(status, "ACTIVE", 30) - t0) * 1000)
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
        beats = [r.at for r in server.requests if r.path == "/v1/heartbeats"]
        books = sum(1 for r in server.requests if r.path == "/book")
        polls = sum(
            1 for r in server.requests if r.path in ("/data/orders", "/data/trades") and r.at >= slow_from
        )
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    slow_beats = [b for b in beats if b >= slow_from]
    gaps = [b - a for a, b in itertools.pairwise(slow_beats)]
    gap = percentiles(gaps)
    pause_stats = percentiles(pause_ms)
    return {
        "latency_s": latency,
        "book_reads": books,
        "order_and_trade_reads_while_slow": polls,
        "heartbeat_gap_s": gap,
        "orders_resting_after_half_the_run": resting,
        "pause_to_status_ms": pause_stats,
        "resume_to_status_ms": percentiles(resume_ms),
        "meets_target": gap["max"] <= 5 and pause_stats["p99"] <= 50 and resting == 2,
    }


def run_during_post(post_latency: float) -> dict[str, object]:
    """PAUSE touched while an entry's ``POST /order`` is in flight (answered after
    `post_latency` s): the post stays on the engine's thread, so PAUSE waits for its answer.
    One trial: both markets' entries are released by removing PAUSE."""
    server, home, proc = start_live(paused=True)
    pause = home / "controls" / "PAUSE"
    status = home / "state" / "status.json"
    try:
        wait_for(lambda: read(status).get("trading_state") == "PAUSED", 60, proc)
        server.delay_next("POST", "/order", post_latency, count=len(MARKETS))
        pause.unlink()
        wait_for(lambda: any(r.path == "/order" for r in server.requests), 30, proc)
        t0 = time.perf_counter()
        pause.touch()
        pause_ms = (wait_state(status, "PAUSED", 30) - t0) * 1000
        posts = sum(1 for r in server.requests if (r.method, r.path) == ("POST", "/order"))
    finally:
        proc.terminate()
        proc.wait(30)
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return {
        "post_latency_s": post_latency,
        "pause_to_status_ms": round(pause_ms, 1),
        "order_posts_before_paused": posts,  # the turn's other entries go out before PAUSE applies
    }


def main() -> None:
    runs = [run(latency) for latency in LATENCIES]
    during_post = [run_during_post(x) for x in POST_LATENCIES]
    result = {
        "benchmark": "live_faults",
        "seconds_per_latency": SECONDS,
        "markets": len(MARKETS),
        "slow_paths": SLOW_PATHS,
        "runs": runs,
        "pause_during_an_order_post": during_post,
        "target": {"heartbeat_gap_max_s": 5, "pause_p99_ms": 50},
        "meets_target": all(r["meets_target"] for r in runs),
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
