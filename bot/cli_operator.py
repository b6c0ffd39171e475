"""The operator commands beyond the controls: sessions, pnl, watch, doctor, serve, alerts, mcp,
config.

Thin shells over bot.queries, bot.watch, bot.doctor, bot.serve, bot.alerts, bot.mcp_server and
bot.settings_view; bot/cli.py registers them on the app. Like the rest of the reading side they
read files (and the journal read-only) and never import the engine.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import Home, Json, Mode, existing_home, fail


def sessions(home: Home = None, mode: Mode = None, as_json: Json = False) -> None:
    """Every run of the bot: id, mode, start, stop, exit reason, trades opened and their P&L."""
    from bot import queries, tables

    where = existing_home(home, "sessions")
    try:
        rows = queries.sessions(where, mode)
    except queries.QueryError as exc:
        fail("sessions", exc)
    typer.echo(tables.as_json(rows) if as_json else tables.sessions(rows))


def pnl(
    home: Home = None,
    by: Annotated[
        str,
        typer.Option(help="Group by day (of the exit), strategy, market (window) or instrument."),
    ] = "day",
    since: Annotated[str | None, typer.Option(help="Closed at or after (as for bot trades).")] = None,
    mode: Mode = None,
    as_json: Json = False,
) -> None:
    """Realised P&L of closed trades, net of fees, grouped; totals per mode."""
    from bot import queries, tables

    where = existing_home(home, "pnl")
    try:
        since_ms = queries.parse_since(since) if since else None
        rows = queries.pnl(where, by, mode, since_ms)
    except queries.QueryError as exc:
        fail("pnl", exc)
    typer.echo(tables.as_json(rows) if as_json else tables.pnl(rows, by))


def watch(
    home: Home = None,
    once: Annotated[
        bool, typer.Option(help="Print one view and exit (also when not on a terminal).")
    ] = False,
) -> None:
    """A live terminal view of the bot from its state files: positions, orders, P&L, controls."""
    where = existing_home(home, "watch")
    try:
        from bot import watch as view
    except ImportError:
        fail("watch", ImportError("needs rich: pip install 'touchtrader[watch]'"))
    raise typer.Exit(view.run(where, once))


def doctor(home: Home = None, as_json: Json = False) -> None:
    """Check a home (permissions, disk, clock, settings, lock and pid, controls, journal) and say what to fix.

    Exit 0 when nothing needs fixing (warnings allowed), 1 when something does.
    """
    from bot import doctor as doc
    from bot.home import resolve

    where = resolve(home)
    findings = doc.diagnose(where)
    typer.echo(doc.as_json(findings) if as_json else doc.render(where, findings))
    raise typer.Exit(doc.exit_code(findings))


def serve(
    home: Home = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; not loopback: a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="TOUCHTRADER_SERVE_TOKEN", help="Required on every request when set.", show_default=False
        ),
    ] = None,
) -> None:
    """A read-only web page of the bot (status, positions, orders, activity) and /api/status."""
    from bot.serve import ServeError, Server

    where = existing_home(home, "serve")
    try:
        server = Server(where, host, port, token or "")
    except ServeError as exc:
        fail("serve", exc)
    typer.echo(f"serving {where} read-only at {server.url} (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def alerts(
    home: Home = None,
    webhook: Annotated[
        list[str] | None,
        typer.Option(
            help="URL to POST to (repeatable); default: $TOUCHTRADER_ALERT_WEBHOOKS or HOME/alerts.toml."
        ),
    ] = None,
    events: Annotated[
        str | None, typer.Option(help="Only these, comma-separated: STOPPED,DIED,STALE,ALIVE,HALTED,...")
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between looks at state/status.json.")] = 1.0,
) -> None:
    """Post to webhooks when the bot stops, dies, hangs, halts, cannot enter or errs (a sidecar)."""
    from bot import alerts as al

    where = existing_home(home, "alerts")
    try:
        config = al.settings(where, webhook or [], events)
    except al.AlertsError as exc:
        fail("alerts", exc)
    typer.echo(f"watching {where} for {', '.join(sorted(config.events))}; {len(config.webhooks)} webhooks")
    raise typer.Exit(al.run(where, config, interval))


def mcp(home: Home = None) -> None:
    """A Model Context Protocol server over stdio for agents: read the bot, steer it, its files.

    Add it to an MCP client as the command `bot` with args ["mcp", "--home", "/path"].
    """
    where = existing_home(home, "mcp")
    try:
        from bot import mcp_server
    except ImportError:
        fail("mcp", ImportError("needs the MCP SDK: pip install 'touchtrader[mcp]'"))
    mcp_server.serve(where)


def config(
    home: Home = None,
    config: Annotated[
        Path | None, typer.Option(help="Settings file, as for bot run; default: HOME/bot.toml if present.")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="As for bot run: paper, dry-run or live.", show_default="paper")
    ] = None,
    speed: Annotated[float | None, typer.Option(help="As for bot run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: key, value, source, detail.")] = False,
) -> None:
    """Every effective setting `bot run` would use here and where it came from.

    Sources: default, bot.toml, command line, ADJUST_RISK (persisted in the journal, with when).
    Exit 2 for a settings file bot run would refuse.
    """
    import os

    from bot import settings_view
    from bot.errors import BotError
    from bot.home import resolve

    where = resolve(home)
    path = config if config is not None else where / "bot.toml"
    overrides: dict[str, object] = {"mode": mode or "paper"}
    if speed is not None:
        overrides["speed"] = speed
    try:
        rows = settings_view.effective(
            where, path if config is not None or os.path.lexists(path) else None, overrides, mode is not None
        )
    except (BotError, *settings_view.UNREADABLE) as exc:
        fail("config", exc)
    typer.echo(settings_view.as_json(rows) if as_json else settings_view.render(rows))


COMMANDS = (sessions, pnl, watch, doctor, serve, alerts, mcp, config)
