"""Sweeps: parsed once, ranked by a chosen metric, runs cut short flagged, a progress line,
and the same sweep.json byte for byte on every executor (serial, processes, Dask)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_config
from bot.sweep import parse_sweep, run_sweep, sweep_table
from tests.research_data import write_research_data

# the README's own example
README_SWEEP = ["risk.max_position_usd=2,5", "strategies.params.edge.min_edge=0.03,0.05"]


def sweep(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "backtest", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_readme_sweep_gives_different_runs_ranked_with_progress(tmp_path: Path) -> None:
    books, _ = write_research_data(tmp_path, windows=12)
    args = [a for item in README_SWEEP for a in ("--sweep", item)]
    result = sweep(books, *args, "--workers", "1", "--out", tmp_path / "s")
    assert result.returncode == 0, result.stderr
    assert "sweep: 4/4 runs done" in result.stderr
    assert "left" in result.stderr
    body = json.loads((tmp_path / "s" / "sweep.json").read_text())
    runs = body["runs"]
    assert body["rank_by"] == "net"
    assert len(runs) == 4
    outcomes = {(r["net_pnl"], r["trades"]) for r in runs}
    assert len(outcomes) > 1, runs  # the settings change what happens
    traded = [r["net_pnl"] for r in runs if r["trades"]]
    assert [r["net_pnl"] for r in runs[: len(traded)]] == sorted(traded, reverse=True)
    assert all("events_per_s" not in r for r in runs)
    timing = json.loads((tmp_path / "s" / "sweep-timing.json").read_text())
    assert len(timing["runs"]) == 4


@pytest.mark.parametrize("rank_by", ["sharpe", "drawdown", "win_rate"])
def test_rank_by(tmp_path: Path, rank_by: str) -> None:
    books, _ = write_research_data(tmp_path, windows=8)
    out = tmp_path / "s"
    rows = run_sweep(
        books, None, {}, parse_sweep(README_SWEEP), out, workers=1, rank_by=rank_by, executor="serial"
    )
    field = {"sharpe": "sharpe", "drawdown": "max_drawdown", "win_rate": "win_rate"}[rank_by]
    traded = [r for r in rows if r["trades"]]
    assert rows[: len(traded)] == traded  # a run without trades has no figure: it ranks last
    values = [r[field] for r in traded if r[field] is not None]
    assert len(values) >= 2
    assert values == sorted(values, reverse=rank_by != "drawdown")
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    with pytest.raises(Exception, match="--rank-by"):
        run_sweep(books, None, {}, parse_sweep(README_SWEEP), tmp_path / "x", workers=1, rank_by="luck")


def test_a_run_without_trades_has_no_figures_and_ranks_below_a_losing_run(tmp_path: Path) -> None:
    books, _ = write_research_data(tmp_path, windows=8)
    # a $2 cap buys nothing here; a 1 % stop loss makes the traded run lose
    grid = parse_sweep(["risk.max_position_usd=2,5", "exits.stop_loss_pct=1,50"])
    for rank_by in ("net", "sharpe", "win_rate", "drawdown"):
        rows = run_sweep(books, None, {}, grid, tmp_path / rank_by, workers=1, rank_by=rank_by)
        idle = [r for r in rows if r["trades"] == 0]
        assert idle, rows  # the grid holds a run without trades
        assert rows[-len(idle) :] == idle, rank_by
        assert {(r["net_pnl"], r["win_rate"], r["sharpe"]) for r in idle} == {(None, None, None)}
    losing = [r for r in rows if r["trades"] and r["net_pnl"] < 0]
    assert losing, rows  # a run that traded and lost, which must rank above the idle ones
    table = "\n".join(sweep_table(rows))
    assert table.count(" - ") >= len(idle), table


def test_a_run_cut_short_by_a_limit_is_flagged(tmp_path: Path) -> None:
    books, _ = write_research_data(tmp_path, windows=20)
    out = tmp_path / "s"
    result = sweep(
        books,
        "--strategy",
        "hold_down",
        "--sweep",
        "risk.max_consecutive_losses=1,50",
        "--workers",
        "1",
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    runs = {
        r["settings"]["risk.max_consecutive_losses"]: r
        for r in json.loads((out / "sweep.json").read_text())["runs"]
    }
    assert runs[1]["cut_short"] == "trading_state"
    assert runs[50]["cut_short"] is None
    assert "CUT SHORT by trading_state" in result.stdout


def _same_sweeps(a: Path, b: Path) -> None:
    assert (a / "sweep.json").read_bytes() == (b / "sweep.json").read_bytes()
    for run in sorted(p.name for p in a.iterdir() if p.is_dir()):
        for name in ("summary.json", "trades.csv", "report.html"):
            assert (a / run / name).read_bytes() == (b / run / name).read_bytes(), (run, name)


def test_processes_and_dask_give_the_serial_sweep_byte_for_byte(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    books, _ = write_research_data(tmp_path, windows=6)
    grid = parse_sweep(README_SWEEP)
    load_config(None, {})
    run_sweep(books, None, {}, grid, tmp_path / "serial", workers=1, executor="serial")
    run_sweep(books, None, {}, grid, tmp_path / "procs", workers=2, executor="processes")
    run_sweep(books, None, {}, grid, tmp_path / "dask", workers=2, executor="dask")
    _same_sweeps(tmp_path / "serial", tmp_path / "procs")
    _same_sweeps(tmp_path / "serial", tmp_path / "dask")
    assert json.loads((tmp_path / "dask" / "sweep-timing.json").read_text())["executor"] == "dask"


def test_a_dask_scheduler_address(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    books, _ = write_research_data(tmp_path, windows=4)
    grid = parse_sweep(["risk.max_position_usd=2,5"])
    run_sweep(books, None, {}, grid, tmp_path / "serial", workers=1, executor="serial")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = sweep(
            books,
            "--sweep",
            "risk.max_position_usd=2,5",
            "--executor",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "--out",
            tmp_path / "remote",
            "--quiet",
        )
    assert result.returncode == 0, result.stderr
    _same_sweeps(tmp_path / "serial", tmp_path / "remote")
