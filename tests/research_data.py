"""Real-format research data for tests: up/down windows on a seeded random walk, the books
of both tokens one row per token (as Polymarket exports them), and the underlying's series."""

from __future__ import annotations

import math
import random
from pathlib import Path

from bot.fairvalue import p_up

T0 = 1_800_000_000  # seconds
SIGMA = 0.0004  # per sqrt second: windows move enough for the books to matter


def write_research_data(
    folder: Path, *, windows: int = 6, seed: int = 3, step_s: int = 2, mispricing: float = 0.08
) -> tuple[Path, Path]:
    """(books.csv, underlying.csv) in `folder`; the books lag the fair value by `mispricing`."""
    rng = random.Random(seed)
    price = 97_000.0
    prices: list[tuple[int, float]] = []
    rows = [
        "timestamp,market_id,token_id,token_outcome,best_bid,best_ask,bid_size,ask_size,window_end,outcome"
    ]
    for w in range(windows):
        start = T0 + w * 300
        end = start + 300
        path = []
        for s in range(300):
            prices.append((start + s, price))
            path.append(price)
            price *= math.exp(rng.gauss(0.0, SIGMA))
        strike = path[0]
        outcome = "Up" if price >= strike else "Down"
        for s in range(0, 300, step_s):
            fair = p_up(path[s], strike, 300 - s, SIGMA)
            # the book is stale: it sits between 0.5 and the fair value
            mid = 0.5 + (fair - 0.5) * (1 - mispricing * 5) if 0.1 < fair < 0.9 else fair
            bid = min(max(round(mid - 0.01, 2), 0.01), 0.97)
            ask = bid + 0.02
            for token, side, b, a in ((f"{w}1", "Up", bid, ask), (f"{w}2", "Down", 1 - ask, 1 - bid)):
                rows.append(f"{start + s},m{w},{token},{side},{b:.2f},{a:.2f},200,200,{end},{outcome}")
    books = folder / "books.csv"
    books.write_text("\n".join(rows) + "\n")
    under = folder / "underlying.csv"
    under.write_text("timestamp,price\n" + "".join(f"{t},{v:.2f}\n" for t, v in prices))
    return books, under
