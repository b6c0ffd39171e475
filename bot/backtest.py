"""Backtests: recorded market data through exactly the code that trades live.

`run_backtest` builds the same engine `bot run` builds (bot.wiring.build_engine) with three
parts swapped: a simulated clock that jumps to each event, a replay feed over the data, and
the paper venue's fill model in BACKTEST mode. Strategies, risk envelope, exits, journal
and state files are the live ones. The results go into their own folder:

    state/                the journal (mode BACKTEST) and the final state files
    logs/                 activity, signals and trades feeds
    trades.csv            one row per closed position
    summary.json          P&L gross and net of fees, win rate, drawdown, exposure,
                          per-strategy figures, slippage, and what the data held
    report.svg, report.html   equity, drawdown and per-strategy P&L to look at

The same data and settings give byte-identical results: nothing in them depends on the
wall clock or the process.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bot import __version__
from bot.app import prepare_home
from bot.clock import SimulatedClock
from bot.config import Config, ConfigError, load_config
from bot.engine import Engine
from bot.errors import BotError
from bot.feeds.replay import ReplayFeed
from bot.journal import Journal, Restored
from bot.metrics import ClosedTrade, EquityPoint, summarize
from bot.model import ONE, MarketEvent, Mode, WindowOpened, iso, to_micros
from bot.report import write_report
from bot.safefile import kind, printable
from bot.strategies import build_strategies
from bot.venues.paper import PaperVenue
from bot.wiring import build_engine

EQUITY_EVERY_MS = 60_000


class BacktestError(BotError):
    """The backtest cannot run; the message says what was expected."""


@dataclass
class Source:
    """Where the events come from, and what loading them found."""

    path: Path
    format: str
    events: Iterable[MarketEvent]
    total: int | None  # known for loaded files; None while streaming a tape
    report: dict[str, Any] = field(default_factory=dict)
    tape_reader: Any = None
    fees: dict[str, int] = field(default_factory=dict)  # a streamed tape's, as recorded


def _noting_fees(events: Iterable[MarketEvent], fees: dict[str, int]) -> Iterator[MarketEvent]:
    """The events, counting the fee schedule of each market as it opens."""
    from bot.feeds.formats.core import fee_text

    for event in events:
        if type(event) is WindowOpened:
            market = event.market
            key = fee_text(market.fee_rate_ppm, market.fee_exponent, "as recorded")
            fees[key] = fees.get(key, 0) + 1
        yield event


def open_source(path: Path, fmt: str | None = None, options: dict[str, Any] | None = None) -> Source:
    """Load DATA: the bot's tape streams (flat memory); other formats are loaded and sorted."""
    from bot.feeds import formats, tape

    try:
        detected = fmt or formats.detect_format(path)
        if detected == "tape" and not options:
            reader = tape.read_tape(path)
            source = Source(path, "tape", reader, None, tape_reader=reader)
            source.events = _noting_fees(reader, source.fees)
            return source
        data = formats.load(path, fmt=detected, **(options or {}))
    except formats.DataError as exc:
        raise BacktestError(str(exc)) from None
    report = data.report.to_dict()
    return Source(path, data.report.format, data.events, len(data.events), report)


class Progress:
    """A one-line progress bar on stderr: events, events per second, time left."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.start = time.perf_counter()
        self._next = self.start + 0.5

    def update(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (now < self._next and not force):
            return
        self._next = now + 0.5
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            share = done / self.total
            left = (self.total - done) / rate if rate else 0
            bar = "#" * int(share * 30)
            line = f"\r[{bar:<30}] {share:6.1%} {done:,} events {rate:,.0f}/s, {left:,.0f} s left "
        else:
            line = f"\r{done:,} events {rate:,.0f}/s "
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self, done: int) -> None:
        if self.enabled:
            self.update(done, force=True)
            sys.stderr.write("\n")


@dataclass
class BacktestResult:
    out: Path
    summary: dict[str, Any]
    files: dict[str, Path]
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def run_backtest(
    data: Path,
    config: Config,
    out: Path,
    *,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = False,
) -> BacktestResult:
    source = open_source(data, fmt, options)
    _check_out(out)
    paths = prepare_home(out)
    config = _backtest_config(config)
    strategies = build_strategies(config.strategies.enabled, config.strategies.params)
    journal = Journal(paths.journal)
    bar = Progress(source.total, progress)
    equity: list[EquityPoint] = []
    exposure: list[tuple[int, int]] = []
    engine: Engine | None = None
    last_sample = [-EQUITY_EVERY_MS]

    def on_batch(ts_ms: int) -> None:
        if engine is not None and ts_ms - last_sample[0] >= EQUITY_EVERY_MS:
            last_sample[0] = ts_ms
            _sample(engine, ts_ms, equity, exposure)
            bar.update(feed.stats.events)

    feed = ReplayFeed(source.events, on_batch)
    first_ts = feed.peek_ms()
    if first_ts is None:
        journal.close()
        raise BacktestError(f"{data}: no usable market events in the data set ({source.format})")
    started = time.perf_counter()
    try:
        journal.start_session(Mode.BACKTEST, __version__, 0, config.to_dict(), first_ts)
        venue = PaperVenue(Mode.BACKTEST, id_prefix="B")
        engine = build_engine(
            config=config,
            paths=paths,
            journal=journal,
            venue=venue,
            feed=feed,
            clock=SimulatedClock(first_ts),
            strategies=strategies,
            restored=Restored.empty(),
            start_ms=first_ts,
            wallet="BACKTEST",
            write_every_change=False,
            operator_controls=False,  # no operator steers a backtest
        )
        balance = to_micros(round(config.paper.starting_balance, 6))
        engine.portfolio.deposit(balance, first_ts, "backtest starting balance")
        venue.deposit(balance)
        engine.activity.add(
            first_ts,
            "BOT_STARTED",
            "System",
            f"touchtrader {__version__} BACKTEST of {printable(data.name)} ({source.format}),"
            f" strategies {', '.join(s.name for s in strategies)}",
        )
        reason = engine.run()
        end_ts = engine.last_event_ms
        _sample(engine, end_ts, equity, exposure)
        engine.activity.add(end_ts, "BOT_STOPPED", "System", reason)
        engine.commit()
        journal.stop_session(end_ts, reason)
        engine.write_final(reason)
        engine.activity.close()
        seconds = time.perf_counter() - started
        bar.close(feed.stats.events)
        trades = closed_trades(journal)
        summary = summarize(trades, equity, starting_balance=balance, exposure_samples=exposure)
        summary["data"] = _data_summary(source, feed)
        summary["config"] = config.to_dict()
        files = _write_results(out, summary, equity, trades, f"Backtest: {printable(data.name)}")
    finally:
        journal.close()
    return BacktestResult(out, summary, files, feed.stats.events, seconds)


def _check_out(out: Path) -> None:
    """The results folder must be new or empty (and a folder: not a file, a FIFO, a link to nothing)."""
    if not os.path.lexists(out):
        return
    try:
        st = os.stat(out)
    except OSError:
        raise BacktestError(f"{out}: a dangling symbolic link, not a folder; choose a new --out") from None
    if not stat.S_ISDIR(st.st_mode):
        raise BacktestError(f"{out}: is {kind(st.st_mode)}, not a folder; choose a new --out")
    if any(out.iterdir()):
        raise BacktestError(f"{out}: the output folder is not empty; choose a new --out")


def _backtest_config(config: Config) -> Config:
    from dataclasses import replace

    # heartbeats are for people watching a live bot; a backtest refreshes its state files once
    # a second of wall time (for whoever watches a long run) and writes them at the end
    return replace(config, mode=Mode.BACKTEST, heartbeat_s=3600.0, state_refresh_s=1.0)


def _sample(engine: Engine, ts_ms: int, equity: list[EquityPoint], exposure: list[tuple[int, int]]) -> None:
    portfolio = engine.portfolio
    value = sum(portfolio.value(p) for p in portfolio.positions.values())
    equity.append(EquityPoint(ts_ms, portfolio.cash + value))
    locked = sum(o.locked for o in engine.orders.orders.values())
    exposure.append((ts_ms, portfolio.deployed() + locked))


def closed_trades(journal: Journal) -> list[ClosedTrade]:
    out = []
    for r in journal.closed_positions(Mode.BACKTEST):
        bought, sold = r["bought_micros"], r["sold_micros"]
        out.append(
            ClosedTrade(
                trade_id=str(r["position_id"]),
                strategy=r["strategy"] or "",
                market_id=r["market_id"],
                outcome=r["outcome"],
                entry_ms=r["opened_ms"],
                exit_ms=r["closed_ms"],
                shares=bought,
                entry_price=r["bought_cost_micros"] * ONE // bought if bought else 0,
                exit_price=r["sold_value_micros"] * ONE // sold if sold else 0,
                intended_exit_price=r["intended_exit_price_micros"] if r["exit_trigger"] else None,
                gross_pnl=r["sold_value_micros"] - r["bought_cost_micros"],
                fees=r["total_fees_micros"],
                net_pnl=r["realized_pnl_micros"],
                exit_reason=r["exit_reason"] or "",
            )
        )
    return out


def _data_summary(source: Source, feed: ReplayFeed) -> dict[str, Any]:
    info: dict[str, Any] = {
        "file": printable(source.path.name, 1000),
        "format": source.format,
        "events_used": feed.stats.events,
        "events_dropped": feed.stats.dropped,
        "dropped_first": [list(x) for x in feed.stats.dropped_first[:20]],
    }
    if source.report:
        report = source.report
        info.update(
            rows_read=report["rows_read"],
            rows_used=report["rows_used"],
            malformed_total=report["malformed_total"],
            malformed_first=[list(x) for x in report["malformed"][:20]],
            row_unit=report["row_unit"],
            ignored=report["ignored"],
            markets=len(report["markets"]),
            truncated=report["truncated"],
            fees=report["fees"],
            ticks=report["ticks"],
            books_disagree=report["books_disagree"],
            notes=report["notes"],
        )
    else:
        info["fees"] = dict(source.fees)
    reader = source.tape_reader
    if reader is not None:
        info.update(
            malformed_total=reader.malformed_total,
            malformed_first=[list(x) for x in reader.malformed[:20]],
            row_unit="line",
            truncated=reader.truncated,
        )
    return info


TRADE_COLUMNS = [
    "trade_id",
    "strategy",
    "market_id",
    "side",
    "entry_time",
    "exit_time",
    "shares",
    "entry_price",
    "exit_price",
    "intended_exit_price",
    "gross_pnl",
    "fees",
    "net_pnl",
    "exit_reason",
]


def _write_results(
    out: Path, summary: dict[str, Any], equity: list[EquityPoint], trades: list[ClosedTrade], title: str
) -> dict[str, Path]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for t in trades:
        writer.writerow(
            [
                t.trade_id,
                t.strategy,
                t.market_id,
                t.outcome,
                iso(t.entry_ms),
                iso(t.exit_ms),
                _dec(t.shares),
                _dec(t.entry_price),
                _dec(t.exit_price),
                "" if t.intended_exit_price is None else _dec(t.intended_exit_price),
                _dec(t.gross_pnl),
                _dec(t.fees),
                _dec(t.net_pnl),
                t.exit_reason,
            ]
        )
    (out / "trades.csv").write_text(buf.getvalue())
    (out / "summary.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    )
    files = write_report(out, summary, equity, trades, title)
    return {"trades": out / "trades.csv", "summary": out / "summary.json", **files}


def _dec(micros: int) -> str:
    return f"{micros / ONE:.6f}".rstrip("0").rstrip(".") if micros % ONE else str(micros // ONE)


# -- sweeps -------------------------------------------------------------------------------


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
