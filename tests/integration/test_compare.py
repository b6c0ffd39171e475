"""Live vs backtest: a paper session's tape replayed and its positions compared (bot.compare)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.compare import CompareError, Comparison, Match, Row, Side, compare_session, render, write
from bot.journal import Journal
from bot.model import Mode
from tests.support import FAST_CONFIG, BotProcess, eventually


def query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{home / 'state' / 'bot.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def closed_positions(home: Path) -> int:
    return int(query(home, "SELECT COUNT(*) FROM positions WHERE status='CLOSED'")[0][0])


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One paper session, untouched by any control, stopped after a few closed trades."""
    home = tmp_path_factory.mktemp("clean")
    bot = BotProcess(home, FAST_CONFIG).start()
    try:
        bot.wait_ready()
        eventually(lambda: closed_positions(home) >= 4, timeout=30)
    finally:
        bot.stop()
    return home


def one_line(exc: pytest.ExceptionInfo[CompareError]) -> str:
    text = str(exc.value)
    assert text
    assert "\n" not in text
    return text


def test_a_clean_paper_session_compares_all_same(clean_home: Path) -> None:
    c = compare_session(clean_home, 1)
    assert len(c.rows) >= 4
    assert c.identical, render(c)
    assert c.counts == {"SAME": len(c.rows), "DIFFERENT": 0, "ONLY_IN_SESSION": 0, "ONLY_IN_REPLAY": 0}
    assert c.replay == clean_home / "backtests" / "compare-session-1"
    assert (c.replay / "summary.json").exists()
    # a fresh session: every position is its own, and the replay started with its deposit
    assert (
        c.session_pnl
        == c.replay_pnl
        == query(clean_home, "SELECT SUM(realized_pnl_micros) FROM positions")[0][0]
    )
    assert c.starting_balance == 100_000_000
    assert not any("controls" in note or "resumed" in note for note in c.notes)

    text = render(c)
    lines = text.splitlines()
    assert sum(1 for line in lines if line.rstrip().endswith("| SAME")) == len(c.rows)
    assert lines[-1].startswith(f"{len(c.rows)} positions: {len(c.rows)} SAME, 0 DIFFERENT")
    assert "the replay matches the session" in lines[-1]
    for row in c.rows:
        assert row.market_id in text

    files = write(c, c.replay)
    data = json.loads(files["json"].read_text())
    assert data["counts"]["SAME"] == len(c.rows)
    assert data["identical"] is True
    assert data["totals"]["session_net_pnl"] == data["totals"]["replay_net_pnl"]
    with files["csv"].open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(c.rows)
    assert {r["status"] for r in table} == {"SAME"}
    assert all(r["session_entry_price"] == r["replay_entry_price"] for r in table)

    again = compare_session(clean_home, 1)  # the first replay folder is kept
    assert again.replay.name == "compare-session-1-2"
    assert again.identical


def test_an_unknown_session_id_is_one_line(clean_home: Path) -> None:
    with pytest.raises(CompareError) as exc:
        compare_session(clean_home, 42)
    assert "session 42" in one_line(exc)
    assert "no such session" in one_line(exc)


def test_a_backtest_session_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    journal = Journal(tmp_path / "state" / "bot.db")
    journal.start_session(Mode.BACKTEST, "test", 0, {}, 1_800_000_000_000)
    journal.close()
    with pytest.raises(CompareError) as exc:
        compare_session(tmp_path, 1)
    assert "BACKTEST" in one_line(exc)


def test_a_replay_folder_is_not_a_session_to_compare(clean_home: Path, tmp_path: Path) -> None:
    c = compare_session(clean_home, 1, tmp_path / "replay")
    assert c.replay == tmp_path / "replay"
    with pytest.raises(CompareError) as exc:
        compare_session(c.replay, 1)
    assert "BACKTEST" in one_line(exc)


def test_a_missing_tape_or_a_config_this_version_does_not_know(clean_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "copy"
    shutil.copytree(clean_home, home, ignore=shutil.ignore_patterns("backtests"))
    conn = sqlite3.connect(home / "state" / "bot.db")
    with conn:
        (text,) = conn.execute("SELECT config FROM sessions WHERE session_id=1").fetchone()
        config = json.loads(text)
        config["risk"]["max_leverage"] = 3
        conn.execute("UPDATE sessions SET config=? WHERE session_id=1", (json.dumps(config),))
    conn.close()
    with pytest.raises(CompareError) as exc:
        compare_session(home, 1)
    assert "risk.max_leverage: unknown key" in one_line(exc)

    (home / "logs" / "tapes" / "session-1.jsonl.gz").unlink()
    with pytest.raises(CompareError) as exc:
        compare_session(home, 1)
    assert "tape" in one_line(exc)
    assert "missing" in one_line(exc)

    with pytest.raises(CompareError) as exc:
        compare_session(tmp_path / "nowhere", 1)
    assert "no journal" in one_line(exc)


def flatten_exits(home: Path) -> int:
    return int(query(home, "SELECT COUNT(*) FROM positions WHERE exit_reason='FLATTEN'")[0][0])


# the test waits for trades after the flatten: no session limit (losses in a row) may stop them
NO_SESSION_LIMITS = (
    FAST_CONFIG
    + """
[risk]
max_consecutive_losses = 100000
daily_loss_limit_usd = 100000.0
"""
)


def test_a_flatten_in_the_session_shows_as_different_with_a_note(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path, NO_SESSION_LIMITS).start()
    try:
        bot.wait_ready()
        for _ in range(5):  # a position may settle before the flatten reaches it: try again
            eventually(lambda: bot.trading_state()["stats"]["total_active_positions"] > 0, timeout=20)
            bot.touch("FLATTEN")
            eventually(lambda: not (tmp_path / "controls" / "FLATTEN").exists())
            if flatten_exits(tmp_path):
                break
        assert flatten_exits(tmp_path), "the flatten sold nothing"
        eventually(lambda: closed_positions(tmp_path) >= flatten_exits(tmp_path) + 2, timeout=20)
    finally:
        bot.stop()

    c: Comparison = compare_session(tmp_path, 1)
    flattened = {
        r[0] for r in query(tmp_path, "SELECT position_id FROM positions WHERE exit_reason='FLATTEN'")
    }
    rows = [r for r in c.rows if r.session is not None and r.session.position_id in flattened]
    assert len(rows) == len(flattened)
    for row in rows:
        assert row.status in (Match.DIFFERENT, Match.ONLY_IN_SESSION), row
        if row.status is Match.DIFFERENT:
            assert "exit_reason" in row.differences
        assert "FLATTEN" in row.note
    assert not c.identical
    assert any("FLATTEN" in note and "not replayed" in note for note in c.notes)
    text = render(c)
    assert "FLATTEN" in text
    assert "notes:" in text
    assert "the replay differs from the session" in text.splitlines()[-1]


def side(position_id: int, entry_ms: int, **changes: Any) -> Side:
    values: dict[str, Any] = dict(
        position_id=position_id,
        status="CLOSED",
        entry_ms=entry_ms,
        entry_price=520_000,
        shares=5_000_000,
        exit_ms=entry_ms + 15_000,
        exit_price=1_000_000,
        exit_reason="WON",
        exit_trigger="EXPIRY",
        net_pnl=2_400_000,
        fees=0,
    )
    values.update(changes)
    return Side(**values)


def test_render_lines_up_both_sides_and_names_what_differs(tmp_path: Path) -> None:
    t0 = 1_800_000_000_000
    rows = [
        Row("BTC-1", "UP", "canary", Match.SAME, side(1, t0), side(1, t0)),
        Row(
            "ETH-1",
            "DOWN",
            "edge",
            Match.DIFFERENT,
            side(2, t0 + 1000, exit_price=370_000, exit_reason="STOP_TRIGGERED", net_pnl=-795_200),
            side(2, t0 + 3000, fees=1_250),
            ("entry_time", "exit_price", "exit_reason", "net_pnl", "fees"),
        ),
        Row("SOL-1", "UP", "edge", Match.ONLY_IN_SESSION, side(3, t0 + 5000), None),
        Row(
            "SOL-1",
            "DOWN",
            "canary",
            Match.ONLY_IN_REPLAY,
            None,
            side(
                3,
                t0 + 6000,
                status="OPEN",
                exit_ms=None,
                exit_price=0,
                exit_reason="",
                exit_trigger="",
                net_pnl=0,
            ),
        ),
    ]
    c = Comparison(1, "PAPER", tmp_path, tmp_path / "tape", tmp_path / "out", t0, None, 100_000_000, 10, rows)
    lines = render(c).splitlines()
    table = [line for line in lines if line.startswith(("BTC-1", "ETH-1", "SOL-1"))]
    assert len(table) == 4
    assert len({line.index("|") for line in table}) == 1  # the columns line up
    assert len({line.rindex("|") for line in table}) == 1
    assert table[0].endswith("| SAME")
    assert "5 @ 0.52 → 0.37 STOP_TRIGGERED -0.7952" in table[1]
    assert "+2.4000" in table[1]  # P&L with as many decimals as the table needs, exact
    assert "entry time 08:00:01.000/08:00:03.000" in table[1]
    assert "fees 0.00/0.00125" in table[1]
    assert table[2].endswith("ONLY_IN_SESSION")
    assert "→ open" in table[3]
    assert lines[-1].startswith("4 positions: 1 SAME, 1 DIFFERENT, 1 ONLY_IN_SESSION, 1 ONLY_IN_REPLAY")
    assert "net P&L session +4.0048 vs replay +4.80" in lines[-1]
