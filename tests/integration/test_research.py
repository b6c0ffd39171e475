"""Research on real-format data through `bot backtest` (the CLI is what is tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.research_data import write_research_data


def backtest(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "backtest", *map(str, args), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_underlying_beside_the_data_prices_the_ticks_and_edge_trades(tmp_path: Path) -> None:
    books, _ = write_research_data(tmp_path)
    out = tmp_path / "priced"
    result = backtest(books, "--strategy", "edge", "--out", out)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    ticks = summary["data"]["underlying"]["ticks"]
    assert ticks["priced"] > 0 and ticks["priced"] == ticks["ticks"]
    assert summary["trades"] > 0
    assert summary["idle_strategies"] == []
    assert "NOT FIRING" not in result.stdout


def test_a_strategy_whose_inputs_are_missing_is_named_not_silent(tmp_path: Path) -> None:
    books, under = write_research_data(tmp_path)
    under.rename(tmp_path / "elsewhere.csv")
    out = tmp_path / "bare"
    result = backtest(books, "--out", out)  # canary and edge
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [i["strategy"] for i in summary["idle_strategies"]] == ["edge"]
    assert "NOT FIRING: edge" in result.stdout and "--underlying" in result.stdout
    assert "Strategy edge could never fire on this data" in (out / "report.html").read_text()
    # named explicitly, the series prices the ticks again
    again = backtest(
        books, "--strategy", "edge", "--underlying", tmp_path / "elsewhere.csv", "--out", tmp_path / "o"
    )
    assert again.returncode == 0 and "NOT FIRING" not in again.stdout


def test_a_bad_underlying_is_one_line_and_exit_2(tmp_path: Path) -> None:
    books, under = write_research_data(tmp_path, windows=1)
    under.write_text("when,what\n1,2\n")
    result = backtest(books, "--out", tmp_path / "o")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "underlying.csv" in result.stderr
    assert "no time column" in result.stderr
