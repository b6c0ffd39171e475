"""The command line: thin shells over library functions.

Control commands only create or remove files in controls/, the same path an operator or
an agent uses with `touch` and `rm`. Reading commands read files and never import the
engine, so they answer at once and work while the bot is down.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from bot import cli_operator, layout, steer
from bot.cli_common import Home, Json, Mode, Timeout, fail
from bot.cli_common import existing_home as _home
from bot.help import PlainGroup

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,  # plain help: no text lost to markup ("[polymarket]"); see bot/help.py
    cls=PlainGroup,
    no_args_is_help=True,
    help="touchtrader: a trading bot for Polymarket-style binary markets, run through files.",
)


def _say(outcome: steer.Outcome) -> NoReturn:
    """Print what a steering function did and the bot's answer; exit with its code."""
    for line, is_error in outcome.lines:
        typer.echo(line, err=is_error)
    raise typer.Exit(outcome.code)


def _steer(command: str, act: Callable[[], steer.Outcome]) -> NoReturn:
    try:
        outcome = act()
    except steer.SteerError as exc:
        fail(command, exc)
    _say(outcome)


@app.command()
def run(
    home: Home = None,
    mode: Annotated[
        str, typer.Option(help="paper (simulated market), dry-run or live (Polymarket; see [polymarket]).")
    ] = "paper",
    config: Annotated[
        Path | None, typer.Option(help="Settings file; default: HOME/bot.toml if present.")
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Run the simulated market this many times faster.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Do not echo activity to the terminal.")] = False,
    fresh: Annotated[
        bool,
        typer.Option(help="Start over: move the journal, state files and tapes to state/archive-<time>/."),
    ] = False,
) -> None:
    """Run the bot in HOME until EMERGENCY_STOP, Ctrl-C or SIGTERM."""
    from bot.app import RunOptions
    from bot.app import run as run_bot
    from bot.config import load_config
    from bot.errors import BotError
    from bot.home import resolve

    home = resolve(home)  # a folder that is not a home yet becomes one
    overrides: dict[str, object] = {"mode": mode}
    if speed is not None:
        overrides["speed"] = speed
    path = config if config is not None else (home / "bot.toml")
    try:  # a bot.toml that is there but unusable (a dangling link, a folder) is an error
        cfg = load_config(path if config is not None or os.path.lexists(path) else None, overrides)
        reason = run_bot(RunOptions(home=home.resolve(), config=cfg, quiet=quiet, fresh=fresh))
    except BotError as exc:  # StartupRefused: exit 3; the rest: 2 (bot/errors.py exit_code)
        fail("run", exc)
    typer.echo(f"bot stopped: {reason}")


@app.command()
def status(
    home: Home = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the state files' data.")] = False,
) -> None:
    """Show whether the bot is alive, what it holds and whether it can trade (exit 1 if not alive)."""
    from bot import reader
    from bot.home import resolve

    raise typer.Exit(reader.status_command(resolve(home), as_json))


@app.command()
def pause(home: Home = None, timeout: Timeout = 10.0) -> None:
    """Stop new entries (touch controls/PAUSE); exits and settlements go on.

    Waits for the running bot's answer: exit 0 applied (or no bot running: the file waits),
    2 not a bot home, 4 no answer within --timeout.
    """
    where = _home(home, "pause")
    _steer("pause", lambda: steer.pause(where, timeout))


@app.command()
def resume(
    home: Home = None,
    clear_emergency: Annotated[
        bool, typer.Option(help="Also remove EMERGENCY_STOP so the bot may be started again.")
    ] = False,
    timeout: Timeout = 10.0,
) -> None:
    """Allow entries again (remove controls/PAUSE and its other spellings)."""
    where = _home(home, "resume")
    _steer("resume", lambda: steer.resume(where, timeout, clear_emergency))


@app.command()
def flatten(home: Home = None, timeout: Timeout = 10.0) -> None:
    """Cancel every order and close every position, then keep running (controls/FLATTEN).

    Waits for the running bot to acknowledge. Exit 0 acknowledged, 1 no bot running (the
    file stays and acts when one starts), 2 not a bot home, 4 no acknowledgement in time.
    """
    where = _home(home, "flatten")
    _steer("flatten", lambda: steer.flatten(where, timeout))


@app.command()
def stop(home: Home = None, timeout: Timeout = 10.0) -> None:
    """Emergency stop: cancel, flatten, write the final state and exit (controls/EMERGENCY_STOP).

    Waits for the running bot to acknowledge and exit. Exit 0 acknowledged, 1 no bot running
    (the file stays: the bot will refuse to start), 2 not a bot home, 4 no acknowledgement.
    """
    where = _home(home, "stop")
    _steer("stop", lambda: steer.stop(where, timeout))


@app.command()
def adjust(
    settings: Annotated[
        list[str],
        typer.Argument(
            help="KEY=VALUE pairs: max_position_usd=3, max_session_loss=10,"
            " allowed_instruments=BTC,ETH, allowed_strategies=edge, trading_mode=paper;"
            " KEY= (empty) for all instruments or strategies."
        ),
    ],
    home: Home = None,
    timeout: Timeout = 10.0,
) -> None:
    """Tighten risk at runtime: writes controls/ADJUST_RISK as JSON for the bot to apply.

    Waits for the running bot's answer: exit 0 applied (or no bot running: the file waits),
    2 rejected (the reason is printed) or not a bot home, 4 no answer within --timeout.
    """
    where = _home(home, "adjust")
    _steer("adjust", lambda: steer.adjust(where, steer.parse_adjust(settings), timeout))


@app.command()
def reset(home: Home = None, timeout: Timeout = 10.0) -> None:
    """Clear HALTED and the session limits (touch controls/RESET); the journal records it.

    Waits for the running bot's answer (exit codes as for bot pause).
    """
    where = _home(home, "reset")
    _steer("reset", lambda: steer.reset(where, timeout))


@app.command()
def trades(
    home: Home = None,
    limit: Annotated[
        int, typer.Option(help="How many trades, newest first; 0 for all.", min=0, max=10**9)
    ] = 20,
    since: Annotated[
        str | None, typer.Option(help="Entered at or after: 2026-11-22, 2026-11-22T03:00:00Z, or 12h, 7d.")
    ] = None,
    session: Annotated[
        int | None, typer.Option(help="Only trades opened by this session.", min=1, max=2**53)
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="Only this strategy's trades.")] = None,
    mode: Mode = None,
    as_json: Json = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """Trades (positions from entry to exit) from state/bot.db, newest first."""
    from bot import queries, tables

    where = _home(home, "trades")
    try:
        since_ms = queries.parse_since(since) if since else None
        rows = queries.trades(
            where, limit=limit, since_ms=since_ms, session=session, strategy=strategy, mode=mode
        )
    except queries.QueryError as exc:
        fail("trades", exc)
    if as_csv:
        rows = tables.with_dollars(rows)
        fields = list(rows[0]) if rows else ["position_id"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        typer.echo(tables.as_json(rows) if as_json else tables.trades(rows))


for _command in cli_operator.COMMANDS:  # sessions, pnl, watch, doctor, serve, alerts, mcp, config
    app.command()(_command)


@app.command()
def backtest(
    data: Annotated[Path, typer.Argument(help="Recorded market data: a tape, a price history or a CSV.")],
    config: Annotated[Path | None, typer.Option(help="Settings file (the same as bot run's).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Run only this strategy.")] = None,
    out: Annotated[Path | None, typer.Option(help="Results folder; default backtests/<data>-<n>.")] = None,
    data_format: Annotated[
        str | None, typer.Option("--format", help="tape, polymarket, csv or parquet; default: detected.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            help="Data option KEY=VALUE, repeatable: window_end, outcome, token_outcome, market_id,"
            " tick, spread, columns and metadata (CSV, Parquet), fee_rate_ppm (0: no fees) ..."
        ),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(help="Grid KEY=v1,v2 over a setting (repeatable), e.g. risk.max_position_usd=2,5"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes for a sweep; default: all cores.", min=1, max=1024)
    ] = None,
    underlying: Annotated[
        Path | None,
        typer.Option(
            help="The underlying's price series (timestamp, value: CSV, JSON, Parquet; Binance klines"
            " or Chainlink): prices every book tick; default: underlying.* beside the data."
        ),
    ] = None,
    sigma: Annotated[
        float | None,
        typer.Option(
            help="Volatility per sqrt second until the series gives one; default 0.00009.", min=1e-9
        ),
    ] = None,
    rank_by: Annotated[str, typer.Option(help="Rank a sweep by net, sharpe, drawdown or win_rate.")] = "net",
    executor: Annotated[
        str | None,
        typer.Option(
            help="Run a sweep serial, on processes, or on dask (the dask extra); default: processes."
        ),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://HOST:8786); default: a local cluster.")
    ] = None,
    skip_baselines: Annotated[
        bool,
        typer.Option(
            "--skip-baselines",
            help="Do not run the baselines (favourite, hold_up, hold_down) on the same data.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Replay recorded market data through the live code path at full speed."""
    from bot import backtest as bt
    from bot import sweep as sw
    from bot.config import load_config
    from bot.errors import BotError

    options = _options(option or [])
    overrides: dict[str, object] = {}
    if strategy:
        overrides["strategies.enabled"] = [strategy]
    try:
        if not data.exists():
            raise bt.BacktestError(f"{data}: no such file (expected a tape, a price history JSON or a CSV)")
        target = out or _next_out(Path(layout.BACKTESTS), data)
        if data.is_dir():  # a `bot download` folder
            from bot.download import read_folder

            data, found = read_folder(data)
            options = {**found, **options}
        if sweep:
            grid = sw.parse_sweep(sweep)
            rows = sw.run_sweep(
                data,
                config,
                overrides,
                grid,
                target,
                workers=workers or sw.default_workers(),
                fmt=data_format,
                options=options,
                underlying=underlying,
                sigma=sigma,
                rank_by=rank_by,
                executor=executor,
                scheduler=scheduler,
                progress=not quiet,
            )
            for line in sw.sweep_table(rows):
                typer.echo(line)
            typer.echo(f"{len(rows)} runs in {target} (ranked in {target / 'sweep.json'})")
            return
        cfg = load_config(config, overrides)
        if underlying is not None and not underlying.is_file():
            what = (
                "is a directory"
                if underlying.is_dir()
                else "is not a regular file"
                if underlying.exists()
                else "no such file"
            )
            raise bt.BacktestError(f"{underlying}: {what} (expected the underlying's price series)")
        result = bt.run_backtest(
            data,
            cfg,
            target,
            fmt=data_format,
            options=options,
            progress=not quiet and sys.stderr.isatty(),
            underlying=underlying,
            sigma=sigma,
            baselines=not skip_baselines,
        )
    except BotError as exc:  # also DataError: the input changed while it was read
        fail("backtest", exc)
    s = result.summary
    info = s["data"]
    rate = "-" if s["win_rate"] is None else f"{s['win_rate']:.1%}"
    typer.echo(
        f"{info['events_used']:,} events in {result.seconds:.2f} s ({result.events_per_s:,.0f}/s);"
        f" {info.get('malformed_total', 0)} malformed rows, {info['events_dropped']} events dropped"
    )
    typer.echo(
        f"{s['trades']} trades, win rate {rate}, net P&L {s['net_pnl']:.2f} (gross {s['gross_pnl']:.2f},"
        f" fees {s['fees']:.2f}), max drawdown {s['max_drawdown']:.2f}"
    )
    fees = "; ".join(f"{rate} in {n} market(s)" for rate, n in info.get("fees", {}).items())
    typer.echo(f"fees: {fees or 'no market opened'}")
    for line in _data_lines(info):
        typer.echo(line)
    if "underlying" in info:
        u = info["underlying"]
        typer.echo(
            f"underlying: {u['file']}, {u['points']:,} prices ({u['malformed_total']} malformed);"
            f" {u['ticks']['priced']:,} of {u['ticks']['ticks']:,} book ticks priced"
        )
        if len(u["ticks"]["instruments"]) > 1:
            shown = ", ".join(u["ticks"]["instruments"])
            typer.echo(
                f"WARNING: one underlying priced markets of {shown}: give each instrument its own data"
            )
    for name, b in s.get("baselines", {}).items():
        typer.echo(f"baseline {name}: {b['trades']} trades, net P&L {b['net_pnl']:.2f}")
    if s["unsettled"]["positions"]:
        u = s["unsettled"]
        typer.echo(
            f"unsettled: {u['positions']} position(s) still open, worth {u['value']:.2f} at the last marks"
        )
    for stop in s["stops"]:
        typer.echo(f"entries stopped {stop['start']} .. {stop['end']} by {stop['limit']}: {stop['reason']}")
    for idle in s.get("idle_strategies", []):
        typer.echo(f"NOT FIRING: {idle['strategy']}: {idle['reason']}")
    typer.echo(f"results: {target}/ (summary.json, trades.csv, report.html, report.svg, state/, logs/)")


@app.command()
def download(
    out: Annotated[Path, typer.Option(help="New folder for the data (bot backtest reads it).")],
    series: Annotated[
        str | None, typer.Option(help="A series, e.g. btc-updown-5m (needs --start, --end).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="One event by its slug.")] = None,
    market: Annotated[str | None, typer.Option(help="One market by its slug.")] = None,
    start: Annotated[str | None, typer.Option(help="From (ISO-8601 UTC or unix seconds).")] = None,
    end: Annotated[str | None, typer.Option(help="Until (exclusive).")] = None,
    fidelity: Annotated[int, typer.Option(help="Minutes between price points (1 at the finest).")] = 1,
    symbol: Annotated[
        str | None, typer.Option(help="Binance symbol of the underlying; default COINUSDT.")
    ] = None,
    interval: Annotated[str, typer.Option(help="Candle length of the underlying: 1s, 1m, 5m ...")] = "1m",
    skip_underlying: Annotated[
        bool, typer.Option("--skip-underlying", help="Do not fetch the underlying's candles.")
    ] = False,
    gamma: Annotated[str, typer.Option(help="Gamma API address.")] = "https://gamma-api.polymarket.com",
    clob: Annotated[
        str, typer.Option(help="CLOB API address (prices-history).")
    ] = "https://clob.polymarket.com",
    binance: Annotated[str, typer.Option(help="Binance API address (klines).")] = "https://api.binance.com",
) -> None:
    """Download Polymarket price history, Gamma metadata and the underlying into a folder."""
    from bot import download as dl
    from bot.errors import BotError

    try:
        req = dl.Request(
            out=out,
            series=series,
            event=event,
            market=market,
            start_ms=None if start is None else dl.parse_when(start, "start"),
            end_ms=None if end is None else dl.parse_when(end, "end"),
            fidelity=fidelity,
            symbol=symbol,
            interval=interval,
            underlying=not skip_underlying,
            gamma=gamma,
            clob=clob,
            binance=binance,
        )
        info = dl.download(req)
    except BotError as exc:
        fail("download", exc)
    typer.echo(
        f"{info['markets']} markets, {info['price_points']:,} price points"
        f" ({len(info['tokens_without_prices'])} tokens without prices), {info['candles']:,} candles"
    )
    typer.echo(f"data: {out}/ (bot backtest {out})")


@app.command()
def compare(
    session: Annotated[
        int,
        typer.Argument(help="The session id (bot.db sessions table; BOT_STARTED says it).", min=1, max=2**53),
    ],
    home: Home = None,
    out: Annotated[
        Path | None, typer.Option(help="Replay folder; default HOME/backtests/compare-session-N.")
    ] = None,
) -> None:
    """Replay a PAPER, DRY_RUN or LIVE session's tape and show where its trades differ."""
    from bot import compare as cmp
    from bot.errors import BotError

    try:
        result = cmp.compare_session(_home(home, "compare"), session, out)
        cmp.write(result)
    except BotError as exc:
        fail("compare", exc)
    typer.echo(cmp.render(result))


@app.command()
def markets(
    series: Annotated[
        list[str] | None, typer.Option(help="A recurring series, e.g. btc-updown-5m (repeatable).")
    ] = None,
    market: Annotated[
        list[str] | None, typer.Option(help="A market by slug, polymarket.com URL, condition or token id.")
    ] = None,
    search: Annotated[str | None, typer.Option(help="Free text for Gamma's public search.")] = None,
    host: Annotated[
        str | None, typer.Option(help="Gamma API URL.", show_default="https://gamma-api.polymarket.com")
    ] = None,
    windows: Annotated[int, typer.Option(help="Windows per series: the open one and the next.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Gamma.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    home: Home = None,
) -> None:
    """What the bot would trade now and next (Gamma): times, tick, fees, status or why it is skipped."""
    from bot.home import resolve
    from bot.markets.listing import Request, markets_command

    home = resolve(home)
    request = Request(tuple(series or ()), tuple(market or ()), search or "", host, windows, timeout)
    out = markets_command(request, home / "bot.toml", as_json, typer.echo, lambda m: typer.echo(m, err=True))
    raise typer.Exit(out)


@app.command()
def redeem(
    wait: Annotated[float, typer.Option(help="Seconds to wait for the transactions to be mined.")] = 120.0,
    home: Home = None,
) -> None:
    """Redeem a stopped LIVE bot's won positions on chain now (a running bot does it with auto_redeem)."""
    from bot.home import resolve
    from bot.redemption.command import redeem_command

    out = redeem_command(resolve(home), wait, typer.echo, lambda m: typer.echo(m, err=True))
    raise typer.Exit(out)


@app.command()
def schema(
    name: Annotated[
        str | None, typer.Argument(help="status, trading_state, trades_today, reconciliation or adjust_risk.")
    ] = None,
) -> None:
    """Print the JSON Schema of a state or control file; alone, list the names."""
    from bot import schema_files

    if name is None:
        typer.echo(schema_files.listing())
        return
    try:
        typer.echo(schema_files.text(name), nl=False)
    except schema_files.UnknownSchema as exc:
        fail("schema", exc)


def _data_lines(info: dict[str, Any]) -> list[str]:
    """What the data held back, for the terminal: the first malformed rows with their place and
    reasons, a tape cut short, the loader's notes (all of it is in summary.json too)."""
    unit = info.get("row_unit", "line")
    lines = [f"data: malformed {unit} {row}: {reason}" for row, reason in info.get("malformed_first", [])[:3]]
    if info.get("malformed_total", 0) > 3:
        lines.append(
            f"data: ... {info['malformed_total'] - 3} more malformed (summary.json: data.malformed_first)"
        )
    if info.get("truncated") and info.get("format") == "tape":
        lines.append("data: the tape ends early (TRUNCATED): read up to its last complete line")
    lines.extend(f"data: {note}" for note in info.get("notes", []))
    loading = info.get("loading")
    if loading and not loading["streamed"]:  # memory grows with the file's length: say why
        lines.append(f"data: {loading['reason']}")
    return lines


def _options(items: list[str]) -> dict[str, object]:
    from bot.sweep import _value

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            fail("backtest", ValueError(f"--option {item!r} is not KEY=VALUE"))
        try:
            out[key] = json.loads(value) if value[:1] in "[{" else _value(value)
        except json.JSONDecodeError as exc:
            fail("backtest", ValueError(f"--option {key}: not valid JSON ({exc.msg} at column {exc.colno})"))
    return out


def _next_out(root: Path, data: Path) -> Path:
    stem = data.name.split(".")[0]
    n = 1
    while (root / f"{stem}-{n}").exists():
        n += 1
    return root / f"{stem}-{n}"


def main() -> None:
    app()  # `bot status` skips typer altogether: see bot/entry.py
