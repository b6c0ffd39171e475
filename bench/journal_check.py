"""What the journal's integrity check costs at start-up, on a journal of a realistic size.

A PAPER session with the default settings (5-minute windows, 3 instruments, canary and
edge) runs for WALL_S seconds at SPEED; its row counts per market hour are scaled to DAYS of
round-the-clock trading by copying rows (new keys), and `PRAGMA quick_check` (what start-up
runs, bot/startup.py) and `PRAGMA integrity_check` are timed on that file, in a fresh connection
each time, with the file in the page cache (a first start after a reboot reads it from disk).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, start_bot

WALL_S = float(os.environ.get("WALL_S", "20"))
SPEED = float(os.environ.get("SPEED", "60"))
DAYS = float(os.environ.get("DAYS", "30"))
RUNS = int(os.environ.get("RUNS", "5"))
GROWN = ("activity", "signals", "orders", "fills", "positions", "cash", "markets", "controls")


def grow(db: Path, factor: float) -> dict[str, int]:
    conn = sqlite3.connect(db)
    counts = {}
    for table in GROWN:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        pk = next(r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[5])
        pk_type = next(r[2] for r in conn.execute(f"PRAGMA table_info({table})") if r[5])
        have = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        target = round(have * factor)
        copy = 0
        while have and have < target:
            copy += 1
            if pk_type.upper() == "INTEGER":
                key = f"{pk} + (SELECT MAX({pk}) FROM {table})"
            else:
                key = f"{pk} || '~{copy}'"
            rest = ", ".join(c for c in cols if c != pk)
            limit = target - have
            conn.execute(
                f"INSERT INTO {table} ({pk}, {rest}) SELECT {key}, {rest} FROM {table} LIMIT {limit}"
            )
            conn.commit()
            have = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        counts[table] = have
    conn.close()
    return counts


def timed(db: Path, pragma: str) -> float:
    conn = sqlite3.connect(db)
    started = time.perf_counter()
    rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    spent = time.perf_counter() - started
    conn.close()
    assert rows == [("ok",)], rows
    return spent


def summary(samples: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(samples), 3), "max": round(max(samples), 3)}


def main() -> None:
    home, proc = start_bot(f"speed = {SPEED}\n")
    time.sleep(WALL_S)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    db = home / "state" / "bot.db"
    conn = sqlite3.connect(db)
    first, last = conn.execute("SELECT MIN(ts_ms), MAX(ts_ms) FROM activity").fetchone()
    per_hour = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in GROWN}
    conn.close()
    market_hours = (last - first) / 3_600_000
    per_hour = {t: round(n / market_hours) for t, n in per_hour.items()}
    counts = grow(db, DAYS * 24 / market_hours)
    sqlite3.connect(db).execute("VACUUM").connection.close()
    quick = [timed(db, "quick_check") for _ in range(RUNS)]
    full = [timed(db, "integrity_check") for _ in range(RUNS)]
    print(
        json.dumps(
            {
                "benchmark": "journal_check",
                "session_market_hours": round(market_hours, 3),
                "rows_per_market_hour": per_hour,
                "days": DAYS,
                "rows": counts,
                "journal_mb": round(db.stat().st_size / 1e6, 1),
                "quick_check_s": {"median": round(statistics.median(quick), 3), "max": round(max(quick), 3)},
                "integrity_check_s": {
                    "median": round(statistics.median(full), 3),
                    "max": round(max(full), 3),
                },
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
