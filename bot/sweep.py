"""Sweeps: one backtest per combination of settings, ranked.

`bot backtest DATA --sweep KEY=v1,v2 ...` runs every combination in its own folder under
the results folder and writes sweep.json, ranked by the chosen metric.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from bot.backtest import _check_out, run_backtest
from bot.config import ConfigError, load_config


def parse_sweep(items: list[str]) -> list[dict[str, Any]]:
    """`key=v1,v2` items -> every combination, as dotted config overrides."""
    axes: list[tuple[str, list[Any]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise ConfigError(f"--sweep {item!r}: expected key=v1,v2,...")
        axes.append((key.strip(), [_value(v) for v in values.split(",") if v.strip()]))
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


def _sweep_one(
    args: tuple[Path, Path | None, dict[str, Any], Path, str | None, dict[str, Any]],
) -> dict[str, Any]:
    data, config_path, overrides, out, fmt, options = args
    config = load_config(config_path, overrides)
    result = run_backtest(data, config, out, fmt=fmt, options=options)
    s = result.summary
    return {
        "run": out.name,
        "settings": overrides,
        "net_pnl": s["net_pnl"],
        "trades": s["trades"],
        "win_rate": s["win_rate"],
        "max_drawdown": s["max_drawdown"],
        "events_per_s": round(result.events_per_s),
    }


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
) -> list[dict[str, Any]]:
    """Every combination in its own folder under `out`, on `workers` processes; ranked by net P&L."""
    for overrides in grid:  # fail fast on a bad key, before any process starts
        load_config(config_path, {**base, **overrides})
    _check_out(out)
    jobs = [
        (data, config_path, {**base, **overrides}, out / f"run-{i:03d}", fmt, options or {})
        for i, overrides in enumerate(grid, start=1)
    ]
    if workers <= 1:
        rows = [_sweep_one(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_sweep_one, jobs))
    rows.sort(key=lambda r: (-r["net_pnl"], r["run"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    (out / "sweep.json").write_bytes(
        orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    return rows


def sweep_table(rows: list[dict[str, Any]]) -> Iterator[str]:
    yield f"{'rank':>4}  {'run':<8} {'net P&L':>10} {'trades':>6} {'win rate':>8} {'max DD':>9}  settings"
    for r in rows:
        rate = "-" if r["win_rate"] is None else f"{r['win_rate']:.1%}"
        settings = " ".join(f"{k}={v}" for k, v in r["settings"].items())
        yield (
            f"{r['rank']:>4}  {r['run']:<8} {r['net_pnl']:>10.2f} {r['trades']:>6} {rate:>8}"
            f" {r['max_drawdown']:>9.2f}  {settings}"
        )


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)
