"""Sweeps: one backtest per combination of settings, ranked.

`bot backtest DATA --sweep KEY=v1,v2 ...` runs every combination in its own folder under
the results folder (run-001, ...) and writes sweep.json, ranked by `--rank-by`:

    net        net P&L, highest first (the default)
    sharpe     mean / standard deviation of the trades' net P&L, highest first
    drawdown   max drawdown, smallest first
    win_rate   share of winning trades, highest first

Ties go to the lower run number; a run without the figure ranks last. A run without trades
has none of net P&L, Sharpe and win rate: `null` in sweep.json (its summary.json still says
`net_pnl` 0.0), so it ranks below a run that traded and lost. A run
that a limit cut short (entries stopped until the end of the data) is flagged with the
limit in `cut_short`. The data (and the underlying's series) is parsed ONCE and shared by
every run: in this process for a serial sweep, handed once to each worker process (or to
each Dask worker, `bot.sweep_dask`) otherwise. Executors: `serial`, `processes` (one
machine), `dask` (a Dask cluster at `--scheduler`, or a local one with processes); all give
the same sweep.json byte for byte. Wall-clock figures go to sweep-timing.json only.
A progress line on stderr says the runs done and the time left.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bot.backtest import Source, _check_out, open_source, run_backtest
from bot.config import ConfigError, load_config


def parse_sweep(items: list[str]) -> list[dict[str, Any]]:
    """`key=v1,v2` items -> every combination, as dotted config overrides."""
    axes: list[tuple[str, list[Any]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        listed = [_value(v) for v in values.split(",") if v.strip()]
        if not sep or not key or not listed:
            raise ConfigError(f"--sweep {item!r}: expected key=v1,v2,... with at least one value")
        if key in (k for k, _ in axes):
            raise ConfigError(f"--sweep {item!r}: {key} is swept twice; expected each key once")
        axes.append((key, listed))
    return [
        dict(zip([k for k, _ in axes], combo, strict=True))
        for combo in itertools.product(*[v for _, v in axes])
    ]


def _value(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


RANKS = ("net", "sharpe", "drawdown", "win_rate")
EXECUTORS = ("serial", "processes", "dask")


@dataclass(frozen=True)
class Job:
    number: int
    config_path: Path | None
    overrides: dict[str, Any]  # every override of this run, the base ones included
    settings: dict[str, Any]  # the swept values alone
    out: Path
    sigma: float | None = None


_SHARED: list[Source] = []  # the data in a worker process, handed over once


def _share(source: Source) -> None:
    _SHARED[:] = [source]


def run_job(job: Job, source: Source | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run of the sweep: (its row for sweep.json, its wall-clock figures)."""
    source = source if source is not None else _SHARED[0]
    config = load_config(job.config_path, job.overrides)
    result = run_backtest(source.path, config, job.out, source=source, sigma=job.sigma)
    s = result.summary
    ending = [p for p in s["stops"] if p["until"] == "the end of the data"]
    row = {
        "run": job.out.name,
        "settings": job.settings,
        "net_pnl": s["net_pnl"] if s["trades"] else None,  # no trades: no figure (module doc)
        "trades": s["trades"],
        "win_rate": s["win_rate"],
        "sharpe": s["sharpe"],
        "max_drawdown": s["max_drawdown"],
        "stops": len(s["stops"]),
        "cut_short": ending[0]["limit"] if ending else None,
        "idle_strategies": [i["strategy"] for i in s["idle_strategies"]],
    }
    timing = {
        "run": job.out.name,
        "seconds": round(result.seconds, 3),
        "events_per_s": round(result.events_per_s),
    }
    return row, timing


def rank_key(rank_by: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        if rank_by == "drawdown":
            return (r["trades"] == 0, r["max_drawdown"], r["run"])
        field = {"net": "net_pnl", "sharpe": "sharpe", "win_rate": "win_rate"}[rank_by]
        value = None if r["trades"] == 0 else r[field]
        return (value is None, -(value or 0), r["run"])

    return key


class SweepProgress:
    """`sweep: 3/8 runs done, 4.2 s, about 6 s left` on stderr."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done = total, enabled, 0
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        spent = time.perf_counter() - self.start
        left = spent / self.done * (self.total - self.done)
        end = "\r" if self.tty and self.done < self.total else "\n"
        sys.stderr.write(
            f"sweep: {self.done}/{self.total} runs done, {spent:,.1f} s, about {left:,.0f} s left{end}"
        )
        sys.stderr.flush()


def run_sweep(
    data: Path,
    config_path: Path | None,
    base: dict[str, Any],
    grid: list[dict[str, Any]],
    out: Path,
    *,
    workers: int,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    underlying: Path | None = None,
    sigma: float | None = None,
    rank_by: str = "net",
    executor: str | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Every combination in its own folder under `out`; ranked by `rank_by` (module doc)."""
    if rank_by not in RANKS:
        raise ConfigError(f"--rank-by {rank_by!r}: expected one of {', '.join(RANKS)}")
    executor = executor or ("processes" if workers > 1 else "serial")
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    for overrides in grid:  # fail fast on a bad key, before any process starts
        load_config(config_path, {**base, **overrides})
    _check_out(out)
    source = open_source(data, fmt, options, underlying, stream=False)  # parsed once
    jobs = [
        Job(i, config_path, {**base, **overrides}, overrides, out / f"run-{i:03d}", sigma)
        for i, overrides in enumerate(grid, start=1)
    ]
    out.mkdir(parents=True, exist_ok=True)
    bar = SweepProgress(len(jobs), progress)
    results: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def done(number: int, result: tuple[dict[str, Any], dict[str, Any]]) -> None:
        results[number] = result
        bar.step()

    if executor == "dask":
        from bot.sweep_dask import run_on_dask

        run_on_dask(jobs, source, scheduler, workers, done, run_job)
    elif executor == "processes" and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=_share, initargs=(source,)) as pool:
            futures = {pool.submit(run_job, job): job.number for job in jobs}
            for future in as_completed(futures):
                done(futures[future], future.result())
    else:
        for job in jobs:
            done(job.number, run_job(job, source))
    rows = [results[job.number][0] for job in jobs]
    rows.sort(key=rank_key(rank_by))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    option = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    (out / "sweep.json").write_bytes(orjson.dumps({"rank_by": rank_by, "runs": rows}, option=option))
    timing = [results[job.number][1] for job in jobs]
    (out / "sweep-timing.json").write_bytes(
        orjson.dumps({"executor": executor, "runs": timing}, option=option)
    )
    return rows


def sweep_table(rows: list[dict[str, Any]]) -> Iterator[str]:
    head = (
        f"{'rank':>4}  {'run':<8} {'net P&L':>10} {'trades':>6} {'win rate':>8} {'sharpe':>7} {'max DD':>9}"
    )
    yield head + "  settings"
    for r in rows:
        net = "-" if r["net_pnl"] is None else f"{r['net_pnl']:.2f}"
        rate = "-" if r["win_rate"] is None else f"{r['win_rate']:.1%}"
        sharpe = "-" if r["sharpe"] is None else f"{r['sharpe']:.2f}"
        settings = " ".join(f"{k}={v}" for k, v in r["settings"].items())
        flag = f"  CUT SHORT by {r['cut_short']}" if r["cut_short"] else ""
        if r["idle_strategies"]:
            flag += f"  NOT FIRING: {', '.join(r['idle_strategies'])}"
        yield (
            f"{r['rank']:>4}  {r['run']:<8} {net:>10} {r['trades']:>6} {rate:>8} {sharpe:>7}"
            f" {r['max_drawdown']:>9.2f}  {settings}{flag}"
        )


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)
