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
    assert ticks["priced"] > 0
    assert ticks["priced"] == ticks["ticks"]
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
    assert "NOT FIRING: edge" in result.stdout
    assert "--underlying" in result.stdout
    assert "Strategy edge could never fire on this data" in (out / "report.html").read_text()
    # named explicitly, the series prices the ticks again
    again = backtest(
        books, "--strategy", "edge", "--underlying", tmp_path / "elsewhere.csv", "--out", tmp_path / "o"
    )
    assert again.returncode == 0
    assert "NOT FIRING" not in again.stdout


def test_a_bad_underlying_is_one_line_and_exit_2(tmp_path: Path) -> None:
    books, under = write_research_data(tmp_path, windows=1)
    under.write_text("when,what\n1,2\n")
    result = backtest(books, "--out", tmp_path / "o")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "underlying.csv" in result.stderr
    assert "no time column" in result.stderr


def test_results_people_trust_and_every_file_byte_identical(tmp_path: Path) -> None:
    """Baselines through the same engine, stops, unsettled positions, entry slippage, the
    per-market breakdown and drawdown from every tick; two runs give the same bytes."""
    books, _ = write_research_data(tmp_path, windows=20)
    cfg = tmp_path / "bot.toml"
    cfg.write_text("[risk]\nmax_consecutive_losses = 2\n")
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        result = backtest(books, "--config", cfg, "--out", out)
        assert result.returncode == 0, result.stderr
    files = sorted(p.relative_to(runs[0]) for p in runs[0].rglob("*") if p.is_file())
    assert Path("baselines/hold_up/summary.json") in files
    for rel in files:
        if rel.name == "timing.json":  # wall-clock figures live here, and only here
            continue
        assert (runs[0] / rel).read_bytes() == (runs[1] / rel).read_bytes(), rel
    timing = json.loads((runs[0] / "timing.json").read_text())
    assert timing["events"] > 0
    assert timing["seconds"] >= 0
    s = json.loads((runs[0] / "summary.json").read_text())
    assert "seconds" not in json.dumps(s)
    # baselines: the same figures as running the baseline alone
    alone = tmp_path / "alone"
    assert (
        backtest(
            books, "--config", cfg, "--strategy", "hold_up", "--skip-baselines", "--out", alone
        ).returncode
        == 0
    )
    solo = json.loads((alone / "summary.json").read_text())
    assert s["baselines"]["hold_up"]["net_pnl"] == solo["net_pnl"]
    assert s["baselines"]["hold_up"]["trades"] == solo["trades"] > 0
    # the loss streak limit stopped entries, and the page and the output say when
    assert [p["limit"] for p in s["stops"]]
    assert all(p["start_ms"] <= p["end_ms"] for p in s["stops"])
    assert any("losing trades in a row" in p["reason"] for p in s["stops"])
    html = (runs[0] / "report.html").read_text()
    for heading in ("Baselines", "Entries stopped", "Unsettled positions", "Per market", "Data", "Settings"):
        assert f"<h2>{heading}</h2>" in html
    assert s["stops"][0]["start"] in html
    svg = (runs[0] / "report.svg").read_text()
    assert svg.count('class="trade-marker"') == s["trades"]
    assert 'class="limit-marker"' in svg
    # entry slippage: every entry fill crossed the spread (paid above the mid)
    assert s["entry_slippage"]["fills"] >= s["trades"]
    assert s["entry_slippage"]["sum"] > 0
    assert sum(m["trades"] for m in s["markets"]) == s["trades"]
    assert s["drawdown_from"].startswith("the marks at every timestamp")
    assert s["settings"]["risk"]["max_consecutive_losses"] == 2
    assert s["unsettled"]["positions"] == 0


def test_positions_left_open_are_listed_with_their_value(tmp_path: Path) -> None:
    books, _ = write_research_data(tmp_path, windows=2)
    lines = books.read_text().splitlines()
    # no outcome for the last market: its positions stay open at the end of the data
    books.write_text(
        "\n".join(line if ",m1," not in line else line.rsplit(",", 1)[0] + "," for line in lines) + "\n"
    )
    out = tmp_path / "o"
    result = backtest(books, "--strategy", "hold_up", "--skip-baselines", "--out", out)
    assert result.returncode == 0, result.stderr
    s = json.loads((out / "summary.json").read_text())
    u = s["unsettled"]
    assert u["positions"] == 1
    assert u["list"][0]["market_id"] == "m1"
    assert u["value"] > 0
    assert "unsettled: 1 position(s) still open" in result.stdout
    assert "1 position(s) open at the end" in (out / "report.html").read_text()
