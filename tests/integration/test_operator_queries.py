"""`bot sessions`, `bot trades` and `bot pnl` against the journal of a real bot run twice."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.figures import usd
from tests.support import BotProcess, eventually


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("queries")
    for session in (1, 2):
        bot = BotProcess(folder).start()
        try:
            bot.wait_ready()
            target = 6 * session
            # a loaded machine misses some last-second entries: wait on the count, generously
            eventually(lambda: _closed(folder) >= target, timeout=180)  # noqa: B023
        finally:
            bot.stop()
    return folder


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home / 'state' / 'bot.db'}?mode=ro", uri=True)


def _closed(home: Path) -> int:
    with _db(home) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM positions WHERE status='CLOSED'").fetchone()[0])


def _journal_pnl(home: Path, where: str = "1") -> int:
    with _db(home) as conn:
        sql = f"SELECT COALESCE(SUM(realized_pnl_micros), 0) FROM positions WHERE status='CLOSED' AND {where}"
        return int(conn.execute(sql).fetchone()[0])


def bot(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--home", str(home)], capture_output=True, text=True, timeout=60
    )


def as_json(home: Path, *args: str) -> list[dict]:
    out = bot(home, *args, "--json")
    assert out.returncode == 0, out
    return json.loads(out.stdout)


def test_sessions_list_each_run_and_their_pnl_adds_up_to_the_journal(home: Path) -> None:
    rows = as_json(home, "sessions")
    assert [r["session_id"] for r in rows] == [1, 2]
    assert all(r["mode"] == "PAPER" and r["stopped_at"] and "SIGTERM" in r["exit_reason"] for r in rows)
    assert sum(r["pnl_micros"] for r in rows) == _journal_pnl(home)
    with _db(home) as conn:
        positions = conn.execute("SELECT COUNT(*) FROM positions").fetchone()[0]
    assert sum(r["trades"] for r in rows) == positions
    assert rows[0]["pnl"] == rows[0]["pnl_micros"] / 1_000_000
    text = bot(home, "sessions").stdout
    assert usd(rows[1]["pnl_micros"], sign=True) in text


def test_trades_filters_by_session_strategy_and_time(home: Path) -> None:
    every = as_json(home, "trades", "--limit", "0")
    with _db(home) as conn:
        assert len(every) == conn.execute("SELECT COUNT(*) FROM positions").fetchone()[0]
    assert len(as_json(home, "trades")) == min(20, len(every))
    first = as_json(home, "trades", "--session", "1", "--limit", "0")
    second = as_json(home, "trades", "--session", "2", "--limit", "0")
    assert first
    assert second
    assert len(first) + len(second) == len(every)
    assert {r["session_id"] for r in first} == {1}
    sessions = {r["session_id"]: r for r in as_json(home, "sessions")}
    assert sum(r["pnl_micros"] or 0 for r in first) == sessions[1]["pnl_micros"]
    canary = as_json(home, "trades", "--strategy", "canary", "--limit", "0")
    assert canary
    assert {r["strategy"] for r in canary} == {"canary"}
    newest = max(r["entry_time"] for r in every)
    since = as_json(home, "trades", "--since", newest, "--limit", "0")
    assert since
    assert all(r["entry_time"] >= newest for r in since)
    assert as_json(home, "trades", "--since", "2999-01-01") == []
    for r in every:
        if r["status"] == "CLOSED":
            assert r["pnl_micros"] == r["gross_pnl_micros"] - r["fees_micros"]
    bad = bot(home, "trades", "--since", "yesterday")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "--since" in bad.stderr


@pytest.mark.parametrize("by", ["day", "strategy", "market", "instrument"])
def test_pnl_groups_reconcile_to_the_journal_to_the_micro(home: Path, by: str) -> None:
    rows = as_json(home, "pnl", "--by", by)
    assert sum(r["pnl_micros"] for r in rows) == _journal_pnl(home)
    assert sum(r["trades"] for r in rows) == _closed(home)
    if by == "strategy":
        for r in rows:
            assert r["pnl_micros"] == _journal_pnl(home, f"strategy = '{r['key']}'")
    text = bot(home, "pnl", "--by", by).stdout
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[-1] == usd(_journal_pnl(home), sign=True)


def test_unknown_groupings_and_modes_are_refused(home: Path) -> None:
    out = bot(home, "pnl", "--by", "week")
    assert out.returncode == 2
    assert "--by 'week'" in out.stderr
    for command in ("trades", "sessions", "pnl"):
        out = bot(home, command, "--mode", "real")
        assert out.returncode == 2, out
        assert "--mode 'real'" in out.stderr, out
    assert as_json(home, "sessions", "--mode", "live") == []
    assert len(as_json(home, "sessions", "--mode", "paper")) == 2


def test_trades_csv_has_micros_and_dollars_that_agree(home: Path) -> None:
    out = bot(home, "trades", "--csv", "--limit", "0")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    closed = [r for r in rows if r["status"] == "CLOSED"]
    assert sum(int(r["pnl_micros"]) for r in closed) == _journal_pnl(home)
    for r in closed:
        assert round(float(r["pnl"]) * 1_000_000) == int(r["pnl_micros"])
