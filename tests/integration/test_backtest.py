"""Backtests through the live code path: parity with a paper session, determinism, formats."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support import BotProcess, eventually

POSITIONS = (
    "SELECT market_id, outcome, strategy, status, bought_micros, bought_cost_micros, sold_micros,"
    " sold_value_micros, total_fees_micros, realized_pnl_micros, exit_reason, exit_trigger"
    " FROM positions ORDER BY opened_ms, market_id, outcome"
)


def rows(db: Path, sql: str = POSITIONS) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def backtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "backtest", *args, "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_paper_sessions_tape_replays_to_the_same_trades(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path).start()
    try:
        bot.wait_ready()
        closed = "SELECT COUNT(*) FROM positions WHERE status='CLOSED'"
        eventually(lambda: rows(tmp_path / "state" / "bot.db", closed)[0][0] >= 4, timeout=30)
    finally:
        bot.stop()
    tape = tmp_path / "logs" / "tapes" / "session-1.jsonl.gz"
    out = tmp_path / "replay"
    result = backtest(str(tape), "--config", str(tmp_path / "bot.toml"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    session = rows(tmp_path / "state" / "bot.db")
    replay = rows(out / "state" / "bot.db")
    assert len(session) >= 4
    assert replay == session


def test_same_data_same_bytes_and_the_report_shows_the_summary(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path).start()
    try:
        bot.wait_ready()
        eventually(lambda: (tmp_path / "logs" / "tapes" / "session-1.jsonl.gz").stat().st_size > 20_000, 30)
    finally:
        bot.stop()
    tape = str(tmp_path / "logs" / "tapes" / "session-1.jsonl.gz")
    cfg = str(tmp_path / "bot.toml")
    assert backtest(tape, "--config", cfg, "--out", str(tmp_path / "a")).returncode == 0
    assert backtest(tape, "--config", cfg, "--out", str(tmp_path / "b")).returncode == 0
    for name in ("summary.json", "trades.csv", "report.svg", "report.html", "state/trading_state.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    html = (tmp_path / "a" / "report.html").read_text()
    assert f"{summary['net_pnl']:.2f}" in html
    assert f"{summary['max_drawdown']:.2f}" in html
    trades = (tmp_path / "a" / "trades.csv").read_text().splitlines()
    assert len(trades) - 1 == summary["trades"]


def test_csv_with_malformed_rows_counts_them(tmp_path: Path) -> None:
    lines = ["timestamp,market_id,best_bid,best_ask,window_end,outcome"]
    t0 = 1_800_000_000
    for i in range(240):
        bid = 0.40 + (i % 20) / 100
        lines.append(f"{t0 + i},M1,{bid:.2f},{bid + 0.02:.2f},{t0 + 300},UP")
    lines[10] = f"{t0 + 9},M1,abc,0.5,{t0 + 300},UP"  # unparseable
    lines[20] = f"{t0 + 19},M1,0.6,0.5,{t0 + 300},UP"  # crossed
    lines[30] = f"{t0 + 29},M1,1.4,1.5,{t0 + 300},UP"  # out of range
    data = tmp_path / "books.csv"
    data.write_text("\n".join(lines) + "\n")
    result = backtest(str(data), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "3 malformed rows" in result.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["data"]["malformed_total"] == 3
    assert [row[0] for row in summary["data"]["malformed_first"]] == [11, 21, 31]


def test_bad_input_gives_one_line(tmp_path: Path) -> None:
    missing = backtest(str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o1"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("when,what\n1,2\n")
    bad = backtest(str(wrong), "--out", str(tmp_path / "o2"))
    assert bad.returncode == 2
    assert "timestamp" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("timestamp,market_id,best_bid,best_ask,window_end,outcome\n")
    none = backtest(str(empty), "--out", str(tmp_path / "o3"))
    assert none.returncode == 2
    assert len(none.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o3" / "report.html").exists()


def test_rows_per_token_are_one_market_per_pair_and_fees_are_stated(tmp_path: Path) -> None:
    """A real-format file (one row per token, a side column, the result as 1/0 per token):
    `canary` buys once per window, not once per token, and the fee rate is in summary.json."""
    t0 = 1_800_000_000
    lines = ["timestamp,market,asset_id,side,best_bid,best_ask,bid_size,ask_size,window_end,winner"]
    for m in range(3):
        start, end = t0 + m * 300, t0 + m * 300 + 300
        up_won = m != 1
        for i in range(0, 300, 2):
            bid = 0.55 + (i % 10) / 100
            lines.append(f"{start + i},mkt{m},{m}1,Up,{bid:.2f},{bid + 0.02:.2f},50,50,{end},{int(up_won)}")
            lines.append(
                f"{start + i},mkt{m},{m}2,Down,{0.98 - bid:.2f},{1 - bid:.2f},50,50,{end},{int(not up_won)}"
            )
    data = tmp_path / "tokens.csv"
    data.write_text("\n".join(lines) + "\n")
    columns = '{"market_id": "market", "token_id": "asset_id", "token_outcome": "side", "outcome": "winner"}'
    out = tmp_path / "out"
    result = backtest(str(data), "--strategy", "canary", "--option", f"columns={columns}", "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    crypto = "0.07 x shares x (p(1-p))^1 (Polymarket crypto schedule (default without metadata))"
    assert summary["data"]["fees"] == {crypto: 3}
    assert summary["data"]["markets"] == 3
    assert summary["data"]["books_disagree"] == 0
    assert f"fees: {crypto} in 3 market(s)" in result.stdout
    trades = (out / "trades.csv").read_text().splitlines()[1:]
    assert sorted(row.split(",")[2] for row in trades) == ["mkt0", "mkt1", "mkt2"]  # one buy per window
    assert [row.split(",")[6] for row in trades] == ["5", "5", "5"]  # min_size, not doubled
    assert summary["fees"] > 0
    assert "Fee rate" in (out / "report.html").read_text()
