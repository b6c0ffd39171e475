"""The bot rotates its logs by size, at a line boundary, and loses no line doing it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from collections import Counter
from pathlib import Path

from tests.support import FAST_CONFIG, BotProcess, eventually

MAX = 4000
CONFIG = FAST_CONFIG + f"\n[logs]\nmax_bytes = {MAX}\nkeep = 1000\n"


def _files(logs: Path, name: str) -> list[Path]:
    """NAME.k ... NAME.1, NAME: oldest first."""
    rotated = sorted(logs.glob(f"{name}.*[0-9]"), key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*rotated, logs / name]


def _lines(logs: Path, name: str) -> list[str]:
    out: list[str] = []
    for path in _files(logs, name):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path} ends inside a line"
        lines = data.decode().splitlines()
        assert len(data) <= MAX or len(lines) == 1, f"{path}: {len(data)} bytes in {len(lines)} lines"
        out.extend(lines)
    return out


def test_every_line_is_in_exactly_one_file_after_several_rotations(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    bot = BotProcess(tmp_path, CONFIG).start()
    tail = None
    try:
        bot.wait_ready()
        tail = subprocess.Popen(
            ["tail", "-F", "-n", "+1", str(logs / "activity.jsonl")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        eventually(
            lambda: (
                all((logs / f"{n}.3").exists() for n in ("activity.jsonl", "signals.jsonl", "bot.log"))
                and (logs / "trades.jsonl.1").exists()
            ),
            timeout=120,
        )
    finally:
        bot.stop()
    with sqlite3.connect(tmp_path / "state" / "bot.db") as db:
        journal = Counter(db.execute("SELECT timestamp, type, market, details FROM activity"))
        signals = db.execute("SELECT COUNT(*) FROM signals").fetchone()[0]
        fills = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    activity = [json.loads(line) for line in _lines(logs, "activity.jsonl")]
    logged = Counter((a["timestamp"], a["type"], a["market"], a["details"]) for a in activity)
    assert logged == journal  # each activity once, none lost, none doubled
    assert [a["timestamp"] for a in activity] == sorted(a["timestamp"] for a in activity)  # in order
    assert activity[-1]["type"] == "BOT_STOPPED"
    assert len(_lines(logs, "signals.jsonl")) == signals > 0
    assert len(_lines(logs, "trades.jsonl")) == fills > 0
    text = [line for line in _lines(logs, "bot.log") if "ORDER_" in line or "MARKET_RESOLVED" in line]
    shown = sum(1 for a in activity if a["type"].startswith("ORDER_") or a["type"] == "MARKET_RESOLVED")
    assert len(text) == shown
    # a reader following the name with tail -F is still reading after the rotations
    assert tail is not None
    assert tail.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(tail.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        eventually(lambda: any('"BOT_STOPPED"' in line for line in seen), timeout=30)
    finally:
        tail.kill()
        tail.wait()
        reader.join(timeout=10)
        tail.stdout.close()


def test_a_bad_keep_is_refused_in_one_line(tmp_path: Path) -> None:
    from tests.integration.test_operator_commands import cli

    (tmp_path / "bot.toml").write_text("[logs]\nkeep = 0\n")
    out = cli("config", "--home", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip() == "bot config: logs.keep: must be from 1 to 1000, got 0"
