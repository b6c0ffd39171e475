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

import os
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bot import __version__
from bot.app import prepare_home
from bot.backtest_audit import (
    MeasuringVenue,
    TickDrawdown,
    entry_slippage,
    equity_now,
    per_market,
    stop_periods,
    unsettled,
)
from bot.backtest_results import closed_trades, data_summary, settings_digest, trade_sharpe, write_results
from bot.backtest_source import Inputs, Source, event_lists, idle_strategies
from bot.clock import SimulatedClock
from bot.config import Config
from bot.engine import Engine
from bot.errors import BotError
from bot.feeds.replay import ReplayFeed
from bot.feeds.tape import DataError
from bot.feeds.underlying import DEFAULT_SIGMA, find_beside, load_series
from bot.journal import Journal, Restored
from bot.metrics import EquityPoint, summarize
from bot.model import Mode, to_micros
from bot.safefile import kind, printable
from bot.strategies import build_strategies
from bot.wiring import build_engine

EQUITY_EVERY_MS = 60_000


class BacktestError(BotError):
    """The backtest cannot run; the message says what was expected."""


def _nothing_usable(data: Path, source: Source) -> str:
    """Why DATA gave no event: a tape's first malformed line at its place, else what it was."""
    reader = source.tape_reader
    if reader is not None and reader.malformed:
        line, reason = min(reader.malformed)
        ends = ", and it ends early" if reader.truncated else ""
        tally = f"{reader.malformed_total} malformed line(s){ends}"
        return f"{data}:{line}: {reason} (no usable market event in the tape: {tally})"
    if reader is not None and reader.truncated:
        return f"{data}: the tape ends before its first market event; expected a tape with book lines"
    return f"{data}: no usable market events in the data set ({source.format}); expected book rows"


def open_source(
    path: Path,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    underlying: Path | None = None,
    *,
    stream: bool = True,
) -> Source:
    """Load DATA: the bot's tape streams (flat memory) unless `stream` is off; other formats
    are loaded and sorted. The underlying's series: `underlying`, else one found beside DATA."""
    source = _open_data(path, fmt, options, stream)
    found = underlying or find_beside(path)
    if found is not None:
        try:
            source.series = load_series(found)
        except DataError as exc:
            raise BacktestError(str(exc)) from None
    return source


def _open_data(path: Path, fmt: str | None, options: dict[str, Any] | None, stream: bool) -> Source:
    from bot.feeds import formats, tape

    options = dict(options or {})
    try:
        threshold = _stream_threshold(path, options.pop("stream_min_mb", None))
        detected = fmt or formats.detect_format(path)
        if detected == "tape" and not options and stream:
            reader = tape.read_tape(path, inputs=True)
            loading = {"streamed": True, "reason": "the bot's own tape, read as the replay goes"}
            return Source(path, "tape", reader, None, tape_reader=reader, loading=loading)
        streamed, why = _stream(path, detected, options, stream, threshold)
        if streamed is not None:
            report = streamed.report.to_dict()
            events = streamed.replays(lambda final: report.update(final.to_dict()))
            loading = {"streamed": True, "reason": why}
            return Source(path, detected, events, None, report, loading=loading)
        data = formats.load(path, fmt=detected, **options)
    except formats.DataError as exc:
        raise BacktestError(str(exc)) from None
    report = data.report.to_dict()
    loading = {"streamed": False, "reason": why}
    return Source(path, data.report.format, data.events, len(data.events), report, loading=loading)


def _stream_threshold(path: Path, value: Any) -> int:
    """`--option stream_min_mb=N` in bytes (default STREAM_MIN_BYTES)."""
    from bot.feeds.formats.streaming import STREAM_MIN_BYTES

    if value is None:
        return STREAM_MIN_BYTES
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1 << 40:
        raise BacktestError(f"{path}: option stream_min_mb={value!r}: expected a number of MiB, 0 or more")
    return int(value * (1 << 20))


def _stream(path: Path, fmt: str, options: dict[str, Any], stream: bool, threshold: int) -> tuple[Any, str]:
    """The file streamed (``formats.streaming``) and how, or None and why it is read whole."""
    from bot.feeds.formats.streaming import PARQUET_ROW_BYTES, STREAMED_FORMATS, stream_file, stream_size

    mib = f"{threshold / (1 << 20):g} MiB"
    whole = "read whole and sorted in memory"
    if not stream:
        return None, f"{whole}, once, and shared by every run of the sweep"
    if fmt not in STREAMED_FORMATS:
        name = {"tape": "a tape with data options", "polymarket": "a price history (JSON)"}.get(fmt, fmt)
        return None, f"{whole}: {name} is not streamed (only CSV and Parquet files in time order are)"
    size = stream_size(path, fmt)
    if size < threshold:
        rows = f"{size // PARQUET_ROW_BYTES:,} rows, as long as a CSV of " if fmt == "parquet" else ""
        length = f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size / 1024:.1f} KiB"
        under = f"the file ({rows}{length}) is under the streaming threshold of {mib}"
        return None, f"{whole}: {under} (--option stream_min_mb=N)"
    streamed = stream_file(path, fmt, **options)
    if isinstance(streamed, str):
        return None, f"{whole}: {streamed}"
    over = f"as long as a CSV over {mib}" if fmt == "parquet" else f"over {mib}"
    return (
        streamed,
        f"streamed in two passes, memory flat with the file's length (the file is {over}, in time order)",
    )


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
    underlying: Path | None = None,
    sigma: float | None = None,
    source: Source | None = None,
    baselines: bool = False,
) -> BacktestResult:
    """One backtest into `out`. `underlying`: a price series that prices every book tick
    (bot.feeds.underlying); `source`: data already loaded (a sweep loads it once);
    `baselines`: also run each baseline strategy on the same data, into out/baselines/."""
    if source is None:
        source = open_source(data, fmt, options, underlying)
    _check_out(out)
    config = _backtest_config(config)
    strategies = build_strategies(config.strategies.enabled, config.strategies.params)
    bar = Progress(source.total, progress)
    equity: list[EquityPoint] = []
    exposure: list[tuple[int, int]] = []
    engine: Engine | None = None
    last_sample = [-EQUITY_EVERY_MS]
    balance = to_micros(round(config.paper.starting_balance, 6))
    drawdown = TickDrawdown(balance)
    fed = [-1]  # the equity last given to `drawdown`: the same again would change nothing

    def on_batch(ts_ms: int) -> None:
        if engine is None:
            return
        portfolio = engine.portfolio
        now = equity_now(portfolio) if portfolio.positions else portfolio.cash
        if now != fed[0]:
            fed[0] = now
            drawdown.update(ts_ms, now)
        if ts_ms - last_sample[0] >= EQUITY_EVERY_MS:
            last_sample[0] = ts_ms
            _sample(engine, ts_ms, equity, exposure)
            bar.update(feed.stats.events)

    inputs = Inputs()
    feed = ReplayFeed(chunks=event_lists(source, inputs, sigma), on_batch=on_batch)
    first_ts = feed.peek_ms()
    if first_ts is None:  # before anything is written: the same --out can be used again
        raise BacktestError(_nothing_usable(data, source))
    paths = prepare_home(out)
    # before this process opens its journal or starts a thread: they may be forked from here
    others = (
        Baselines(data, config, out / "baselines", source, fmt, options, underlying, sigma)
        if baselines
        else None
    )
    journal = Journal(paths.journal)
    started = time.perf_counter()
    try:
        journal.start_session(Mode.BACKTEST, __version__, 0, config.to_dict(), first_ts)
        venue = MeasuringVenue(Mode.BACKTEST, id_prefix="B")
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
        drawdown.update(end_ts, equity[-1].equity)
        engine.activity.add(end_ts, "BOT_STOPPED", "System", reason)
        engine.commit()
        journal.stop_session(end_ts, reason)
        engine.write_final(reason)
        engine.activity.close()
        seconds = time.perf_counter() - started
        bar.close(feed.stats.events)
        trades = closed_trades(journal)
        summary = summarize(trades, equity, starting_balance=balance, exposure_samples=exposure)
        summary["data"] = data_summary(source, feed)
        if source.series is not None:
            summary["data"]["underlying"] = {
                **source.series.to_dict(),
                "sigma_default": sigma or DEFAULT_SIGMA,
                "ticks": inputs.pricing.to_dict(),
            }
        summary["idle_strategies"] = idle_strategies(strategies, inputs)
        summary["sharpe"] = trade_sharpe(trades)
        summary.update(drawdown.figures())
        summary["entry_slippage"] = entry_slippage(venue.entry_fills, journal)
        summary["stops"] = stop_periods(journal, end_ts)
        summary["unsettled"] = unsettled(engine.portfolio, inputs.names)
        summary["markets"] = per_market(trades, inputs.names)
        summary["settings"] = settings_digest(config, summary["data"])
        summary["config"] = config.to_dict()
        if others is not None:
            summary["baselines"] = others.figures()
        files = write_results(out, summary, equity, trades, f"Backtest: {printable(data.name)}")
        timing = {
            "seconds": round(seconds, 3),
            "events": feed.stats.events,
            "events_per_s": round(feed.stats.events / max(seconds, 1e-9)),
        }
        (out / "timing.json").write_bytes(
            orjson.dumps(timing, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        )
        files["timing"] = out / "timing.json"
    finally:
        journal.close()
        if others is not None:
            others.close()
    return BacktestResult(out, summary, files, feed.stats.events, seconds)


class Baselines:
    """Each baseline strategy through the same engine on the same data (a streamed tape is
    read again), in folder/NAME. With more than one core, they run in processes forked as
    the strategy's own run starts, on the data already loaded (shared, not parsed again, not
    copied), beside it; with one core (or threads already running, which a fork would not
    carry), one after the other when asked for. Same runs, same files either way."""

    def __init__(
        self,
        data: Path,
        config: Config,
        folder: Path,
        source: Source,
        fmt: str | None,
        options: dict[str, Any] | None,
        underlying: Path | None,
        sigma: float | None,
    ) -> None:
        from concurrent.futures import Future, ProcessPoolExecutor

        from bot.strategies.baselines import BASELINES

        self.jobs = {
            name: (
                data,
                _baseline_config(config, name),
                folder / name,
                source,
                fmt,
                options,
                underlying,
                sigma,
            )
            for name in BASELINES
        }
        self.source = source
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[str, Future[dict[str, Any]]] = {}
        workers = min(_spare_workers(), len(self.jobs))
        if workers:
            import multiprocessing

            # forked: the children find the jobs (and the loaded data) in their copy of memory
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_take_jobs,
                initargs=(self.jobs,),
            )
            self.futures = {name: self.pool.submit(_forked_baseline, name) for name in self.jobs}

    def figures(self) -> dict[str, Any]:
        """Each baseline's headline figures, in BASELINES' order, once all have run."""
        self._let_go()
        try:
            if self.pool is None:
                return {name: _one_baseline(*job) for name, job in self.jobs.items()}
            return {name: future.result() for name, future in self.futures.items()}
        finally:
            self.close()

    def _let_go(self) -> None:
        """A streamed file's events are read by the strategy's run and followed by the forked
        baselines: if that run ended before the data did, they read the rest themselves."""
        abandon = getattr(self.source.events, "abandon", None)
        if abandon is not None:
            abandon()

    def close(self) -> None:
        self._let_go()
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


def _spare_workers() -> int:
    """Processes for the baselines beside the strategy's run: the usable cores, when more
    than one and this process can fork safely (one thread, a POSIX system); else 0."""
    import multiprocessing
    import threading

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2 or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return cores


def _baseline_config(config: Config, name: str) -> Config:
    from dataclasses import replace

    params = {name: config.strategies.params[name]} if name in config.strategies.params else {}
    return replace(config, strategies=replace(config.strategies, enabled=(name,), params=params, exits={}))


def _one_baseline(
    data: Path,
    cfg: Config,
    out: Path,
    source: Source,
    fmt: str | None,
    options: dict[str, Any] | None,
    underlying: Path | None,
    sigma: float | None,
) -> dict[str, Any]:
    # a streamed tape is read again; a loaded file's events and a streamed CSV's are replayed
    again = source if source.tape_reader is None else open_source(data, fmt, options, underlying)
    s = run_backtest(data, cfg, out, source=again, sigma=sigma).summary
    return {k: s[k] for k in BASELINE_FIGURES}


_JOBS: dict[str, Any] = {}  # a forked baseline process's jobs (`Baselines`), set as it starts


def _take_jobs(jobs: dict[str, Any]) -> None:
    _JOBS.update(jobs)


def _forked_baseline(name: str) -> dict[str, Any]:
    return _one_baseline(*_JOBS[name])


BASELINE_FIGURES = ("trades", "net_pnl", "gross_pnl", "fees", "win_rate", "max_drawdown")


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
