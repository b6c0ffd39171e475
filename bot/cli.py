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
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="touchtrader: a trading bot for Polymarket-style binary markets, run through files.",
)

Home = Annotated[
    Path,
    typer.Option("--home", help="The bot's folder (state/, controls/, logs/).", show_default="."),
]


def _touch(home: Path, name: str, text: str = "") -> Path:
    """Create controls/NAME in one rename: never opens, follows or blocks on what is there."""
    from bot.safefile import replace_small

    path = home / "controls" / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_small(path, text.encode())
    except OSError as exc:
        typer.echo(f"bot: cannot write {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    return path


def _remove(home: Path, names: list[str]) -> list[str]:
    removed = []
    for name in names:
        path = home / "controls" / name
        if path.exists() or path.is_symlink():
            path.unlink()
            removed.append(name)
    return removed


@app.command()
def run(
    home: Home = Path("."),
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
) -> None:
    """Run the bot in HOME until EMERGENCY_STOP, Ctrl-C or SIGTERM."""
    from bot.app import RunOptions
    from bot.app import run as run_bot
    from bot.config import load_config
    from bot.errors import EXIT_CONFIG, EXIT_REFUSED, BotError, StartupRefused

    overrides: dict[str, object] = {"mode": mode}
    if speed is not None:
        overrides["speed"] = speed
    path = config if config is not None else (home / "bot.toml")
    try:  # a bot.toml that is there but unusable (a dangling link, a folder) is an error
        cfg = load_config(path if config is not None or os.path.lexists(path) else None, overrides)
        reason = run_bot(RunOptions(home=home.resolve(), config=cfg, quiet=quiet))
    except StartupRefused as exc:
        typer.echo(f"bot run: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except BotError as exc:
        typer.echo(f"bot run: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    typer.echo(f"bot stopped: {reason}")


@app.command()
def status(
    home: Home = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the state files' data.")] = False,
) -> None:
    """Show whether the bot is alive, what it holds and whether it can trade (exit 1 if not alive)."""
    from bot import reader

    raise typer.Exit(reader.status_command(home, as_json))


@app.command()
def pause(home: Home = Path(".")) -> None:
    """Stop new entries (touch controls/PAUSE); exits and settlements go on."""
    typer.echo(f"created {_touch(home, 'PAUSE')}")


@app.command()
def resume(
    home: Home = Path("."),
    clear_emergency: Annotated[
        bool, typer.Option(help="Also remove EMERGENCY_STOP so the bot may be started again.")
    ] = False,
) -> None:
    """Allow entries again (remove controls/PAUSE and its other spellings)."""
    from bot.controls import Control, files_for

    names = files_for(Control.PAUSE)
    if clear_emergency:
        names += files_for(Control.EMERGENCY_STOP)
    gone = _remove(home, names)
    typer.echo(f"removed {', '.join(gone)}" if gone else "nothing to remove: not paused")


@app.command()
def flatten(home: Home = Path(".")) -> None:
    """Cancel every order and close every position, then keep running (controls/FLATTEN)."""
    typer.echo(f"created {_touch(home, 'FLATTEN')}")


@app.command()
def stop(home: Home = Path(".")) -> None:
    """Emergency stop: cancel, flatten, write the final state and exit (controls/EMERGENCY_STOP)."""
    typer.echo(f"created {_touch(home, 'EMERGENCY_STOP')}")


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
    home: Home = Path("."),
) -> None:
    """Tighten risk at runtime: writes controls/ADJUST_RISK as JSON for the bot to apply."""
    values: dict[str, object] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep:
            typer.echo(f"bot adjust: {item!r} is not KEY=VALUE", err=True)
            raise typer.Exit(2)
        if key in ("allowed_instruments", "allowed_strategies"):
            values[key] = [v for v in raw.split(",") if v] or None
        elif key in ("max_position_usd", "max_session_loss"):
            try:
                values[key] = float(raw) if "." in raw or "e" in raw.lower() else int(raw)
            except ValueError:
                typer.echo(f"bot adjust: {key}: {raw!r} is not a number", err=True)
                raise typer.Exit(2) from None
        else:
            values[key] = raw
    path = _touch(home, "ADJUST_RISK", json.dumps(values))
    typer.echo(f"wrote {path}: {json.dumps(values)} (the bot validates it: see controls.last)")


@app.command()
def reset(home: Home = Path(".")) -> None:
    """Clear HALTED and the session limits (touch controls/RESET); the journal records it."""
    typer.echo(f"created {_touch(home, 'RESET')}")


@app.command()
def trades(
    home: Home = Path("."),
    limit: Annotated[int, typer.Option(help="How many trades, newest first.", min=1, max=10**9)] = 20,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """Recent trades (positions from entry to exit) from state/bot.db."""
    from bot import reader

    rows = reader.recent_trades(home, limit)
    if as_csv:
        fields = list(rows[0]) if rows else ["position_id"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        typer.echo("no trades yet")
        return
    for r in rows:
        pnl = f"{r['pnl']:+.2f}" if r["pnl"] is not None else "open"
        exit_price = f"{r['exit_price']:.4g}" if r["exit_price"] is not None else "-"
        typer.echo(
            f"{r['entry_time']}  {r['market_id']:<32} {r['side']:<4} {r['shares']:>7g}"
            f" @ {r['entry_price']:.4g} -> {exit_price:<6} {pnl:>7}  {r['strategy']}"
            f" {r['exit_reason'] or ''}"
        )


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
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Replay recorded market data through the live code path at full speed."""
    from bot import backtest as bt
    from bot.config import load_config
    from bot.errors import EXIT_CONFIG, BotError
    from bot.feeds.tape import DataError

    options = _options(option or [])
    overrides: dict[str, object] = {}
    if strategy:
        overrides["strategies.enabled"] = [strategy]
    try:
        if not data.exists():
            raise bt.BacktestError(f"{data}: no such file (expected a tape, a price history JSON or a CSV)")
        target = out or _next_out(Path("backtests"), data)
        if sweep:
            grid = bt.parse_sweep(sweep)
            rows = bt.run_sweep(
                data,
                config,
                overrides,
                grid,
                target,
                workers=workers or bt.default_workers(),
                fmt=data_format,
                options=options,
            )
            for line in bt.sweep_table(rows):
                typer.echo(line)
            typer.echo(f"{len(rows)} runs in {target} (ranked in {target / 'sweep.json'})")
            return
        cfg = load_config(config, overrides)
        result = bt.run_backtest(
            data, cfg, target, fmt=data_format, options=options, progress=not quiet and sys.stderr.isatty()
        )
    except (BotError, DataError) as exc:  # DataError: the input changed while it was read
        typer.echo(f"bot backtest: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
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
    for note in info.get("notes", []):
        typer.echo(f"data: {note}")
    typer.echo(f"results: {target}/ (summary.json, trades.csv, report.html, report.svg, state/, logs/)")


@app.command()
def compare(
    session: Annotated[
        int,
        typer.Argument(help="The session id (bot.db sessions table; BOT_STARTED says it).", min=1, max=2**53),
    ],
    home: Home = Path("."),
    out: Annotated[
        Path | None, typer.Option(help="Replay folder; default HOME/backtests/compare-session-N.")
    ] = None,
) -> None:
    """Replay a PAPER, DRY_RUN or LIVE session's tape and show where its trades differ."""
    from bot import compare as cmp
    from bot.errors import EXIT_CONFIG, BotError

    try:
        result = cmp.compare_session(home, session, out)
        cmp.write(result)
    except BotError as exc:
        typer.echo(f"bot compare: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
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
    home: Home = Path("."),
) -> None:
    """What the bot would trade now and next (Gamma): times, tick, fees, status or why it is skipped."""
    from bot.markets.listing import Request, markets_command

    request = Request(tuple(series or ()), tuple(market or ()), search or "", host, windows, timeout)
    out = markets_command(request, home / "bot.toml", as_json, typer.echo, lambda m: typer.echo(m, err=True))
    raise typer.Exit(out)


def _options(items: list[str]) -> dict[str, object]:
    from bot.backtest import _value

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            typer.echo(f"bot backtest: --option {item!r} is not KEY=VALUE", err=True)
            raise typer.Exit(2)
        out[key] = json.loads(value) if value[:1] in "[{" else _value(value)
    return out


def _next_out(root: Path, data: Path) -> Path:
    stem = data.name.split(".")[0]
    n = 1
    while (root / f"{stem}-{n}").exists():
        n += 1
    return root / f"{stem}-{n}"


def main() -> None:
    app()  # `bot status` skips typer altogether: see bot/entry.py
