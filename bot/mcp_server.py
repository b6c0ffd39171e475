"""`bot mcp`: a Model Context Protocol server (stdio) over one bot home, for agents.

The reading side only: it answers from the state files (bot/reader.py), the journal read
read-only (bot/queries.py) and steers through the control files exactly as `bot pause`,
`resume`, `flatten`, `stop`, `adjust` and `reset` do (bot/steer.py, bot/ack.py): every tool
that steers returns the bot's own answer, its rejection reason, or that no bot is running.
It never imports the engine, the journal library or a venue.

Tools: status, positions, open_orders, trades, pnl, why_not_trading; pause, resume, flatten,
adjust_risk, reset, emergency_stop (only with confirm=true); submit_forecast, submit_order and
inbox_answers through inbox/ (bot/mcp_inbox.py). Resources: the state files and their docs.

Needs the `mcp` extra: pip install 'touchtrader[mcp]'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from bot import mcp_inbox, queries, reader, steer, tables
from bot.controls import Control, files_for
from bot.home import running
from bot.layout import STATUS, TRADING_STATE, Paths
from bot.safefile import FileRefused, read_small

TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 300.0
ANSWERS = {0: "acknowledged", 1: "no bot running", 2: "rejected", 4: "no answer"}
DOCS = {
    "state/README.md": "the state files and the journal",
    "controls/README.md": "the control files",
    "inbox/README.md": "the inbox: forecasts and order intents",
}
INSTRUCTIONS = """\
touchtrader, a trading bot for Polymarket-style binary markets, in the home {home}.
Read with status, positions, open_orders, trades, pnl and why_not_trading; steer with pause,
resume, flatten, adjust_risk (only tightens, within the owner's caps) and reset. Each steering
tool returns the bot's own answer (acknowledged, rejected with the reason, no answer) or says
that no bot is running. emergency_stop stops the bot for good and needs confirm=true.
Hand the bot what you know with submit_forecast (a probability for a market) and submit_order
(an order intent, under every risk limit); each returns the bot's answer; inbox_answers lists them.
Money in *_micros fields is integer millionths of USDC; the same field without _micros is USDC."""


def _timeout(seconds: float) -> float:
    if not 0 < seconds <= MAX_TIMEOUT_S:  # NaN too
        raise ToolError(f"timeout_s {seconds}: expected more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    return seconds


def _outcome(home: Path, act: Any) -> dict[str, Any]:
    was_running = running(home).pid is not None
    try:
        out = act()
    except steer.SteerError as exc:
        raise ToolError(str(exc)) from None
    return {
        "answer": "no bot running" if not was_running else ANSWERS.get(out.code, "no answer"),
        "code": out.code,
        "bot_running": was_running,
        "message": out.text,
    }


def _query(call: Any) -> Any:
    try:
        return call()
    except queries.QueryError as exc:
        raise ToolError(str(exc)) from None


def _since(text: str | None) -> int | None:
    if not text:
        return None
    return int(_query(lambda: queries.parse_since(text)))


def why_not(home: Path) -> dict[str, Any]:
    """Every reason entries are blocked now, from the files: liveness, state, risk, controls."""
    snap = reader.read(home)
    status = snap.files.get(STATUS) or {}
    trading = snap.files.get(TRADING_STATE) or {}
    risk = status.get("risk") or {}
    reasons: list[str] = []
    if snap.liveness != "ALIVE":
        reasons.append(f"the bot is {snap.liveness}: {snap.liveness_reason}")
    state = trading.get("trading_state") or status.get("trading_state")
    if state and state != "ACTIVE":
        why = trading.get("trading_state_reason") or status.get("reason") or ""
        reasons.append(f"trading state {state}" + (f": {why}" if why else ""))
    if risk and not risk.get("can_trade") and risk.get("reason"):
        reasons.append(f"risk: {risk['reason']}")
    controls = trading.get("controls") or {}
    if controls.get("in_effect"):
        reasons.append(f"controls in effect: {', '.join(controls['in_effect'])}")
    waiting = steer.present(home, files_for(Control.EMERGENCY_STOP))
    if waiting:
        reasons.append(f"controls/{waiting[0]} exists: the bot stops (or will not start) until it is removed")
    can = snap.liveness == "ALIVE" and bool(risk.get("can_trade"))
    if not can and not reasons:
        reasons.append("state/status.json says can_trade false and gives no reason")
    return {"can_trade": can, "reasons": reasons}


def build(home: Path) -> MCPServer:  # noqa: C901 - a flat list of tool definitions, each a few lines
    """The server for `home` (an existing bot home: see bot/home.py `require`)."""
    server: MCPServer = MCPServer(
        "touchtrader", instructions=INSTRUCTIONS.format(home=home.resolve()), log_level="WARNING"
    )

    @server.tool()
    def status() -> dict[str, Any]:
        """Is the bot alive, can it trade and if not why, its mode, state, account and controls."""
        snap = reader.read(home)
        data = snap.files.get(STATUS) or {}
        trading = snap.files.get(TRADING_STATE) or {}
        risk = data.get("risk") or {}
        return {
            "home": str(home.resolve()),
            "liveness": snap.liveness,
            "liveness_reason": snap.liveness_reason,
            "pid": data.get("pid"),
            "mode": data.get("mode"),
            "trading_state": trading.get("trading_state") or data.get("trading_state"),
            "trading_state_reason": trading.get("trading_state_reason"),
            "can_trade": snap.liveness == "ALIVE" and bool(risk.get("can_trade")),
            "why_not": why_not(home)["reasons"],
            "account": data.get("account"),
            "risk": risk,
            "controls": trading.get("controls"),
            "stats": trading.get("stats"),
            "updated": data.get("timestamp"),
            "problems": snap.problems,
        }

    @server.tool()
    def positions() -> dict[str, Any]:
        """Open positions (state/trading_state.json active_positions) and the totals (stats)."""
        trading = reader.state_file(home, TRADING_STATE) or {}
        return {"positions": trading.get("active_positions") or [], "stats": trading.get("stats") or {}}

    @server.tool()
    def open_orders() -> dict[str, Any]:
        """Resting orders (state/trading_state.json open_orders)."""
        trading = reader.state_file(home, TRADING_STATE) or {}
        return {"orders": trading.get("open_orders") or []}

    @server.tool()
    def trades(
        since: str | None = None,
        session: int | None = None,
        strategy: str | None = None,
        mode: str | None = None,
        limit: int = 20,
    ) -> dict[str, Any]:
        """Trades from the journal, newest first (as `bot trades`). since: 2026-11-22,
        2026-11-22T03:00:00Z or a span back from now (90m, 12h, 7d); session: a session id;
        strategy: a strategy name; mode: paper, dry-run, live or backtest; limit 0: all."""
        if limit < 0:
            raise ToolError(f"limit {limit}: expected 0 (all) or more")
        since_ms = _since(since)
        rows = _query(
            lambda: queries.trades(
                home, limit=limit, since_ms=since_ms, session=session, strategy=strategy, mode=mode
            )
        )
        return {"trades": tables.with_dollars(rows)}

    @server.tool()
    def pnl(by: str = "day", since: str | None = None, mode: str | None = None) -> dict[str, Any]:
        """Realised P&L of closed trades net of fees (as `bot pnl`), grouped by day (of the
        exit), strategy, market or instrument; totals per mode. since: as for trades."""
        since_ms = _since(since)
        rows = _query(lambda: queries.pnl(home, by, mode, since_ms))
        return {"rows": tables.with_dollars(rows), "totals": queries.totals(rows)}

    @server.tool()
    def why_not_trading() -> dict[str, Any]:
        """Why the bot cannot enter trades now (empty reasons and can_trade true when it can)."""
        return why_not(home)

    @server.tool()
    def pause(timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """Stop new entries (controls/PAUSE); exits and settlements go on. Returns the bot's answer."""
        wait = _timeout(timeout_s)
        return _outcome(home, lambda: steer.pause(home, wait))

    @server.tool()
    def resume(timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """Allow entries again (removes controls/PAUSE). Returns the bot's answer."""
        wait = _timeout(timeout_s)
        return _outcome(home, lambda: steer.resume(home, wait))

    @server.tool()
    def flatten(timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """Cancel every order and close every position, then keep running (controls/FLATTEN)."""
        wait = _timeout(timeout_s)
        return _outcome(home, lambda: steer.flatten(home, wait))

    @server.tool()
    def adjust_risk(
        max_position_usd: float | None = None,
        max_session_loss: float | None = None,
        allowed_instruments: list[str] | None = None,
        allowed_strategies: list[str] | None = None,
        trading_mode: str | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> dict[str, Any]:
        """Tighten risk at runtime (controls/ADJUST_RISK, as `bot adjust`): only the given keys
        change; an empty list means all instruments or strategies. The bot checks each value
        against the owner's caps in bot.toml and answers acknowledged or rejected with the reason."""
        values: dict[str, object] = {}
        for key, value in (("max_position_usd", max_position_usd), ("max_session_loss", max_session_loss)):
            if value is not None:
                values[key] = value
        for key, names in (
            ("allowed_instruments", allowed_instruments),
            ("allowed_strategies", allowed_strategies),
        ):
            if names is not None:
                values[key] = names or None
        if trading_mode is not None:
            values["trading_mode"] = trading_mode
        if not values:
            raise ToolError("adjust_risk: give at least one setting to change")
        wait = _timeout(timeout_s)
        return _outcome(home, lambda: steer.adjust(home, values, wait))

    @server.tool()
    def reset(timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """Clear HALTED and the session limits (controls/RESET). Returns the bot's answer."""
        wait = _timeout(timeout_s)
        return _outcome(home, lambda: steer.reset(home, wait))

    @server.tool()
    def emergency_stop(confirm: bool = False, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """EMERGENCY STOP: cancel, flatten, write the final state and exit; the bot will not start
        again until controls/EMERGENCY_STOP is removed. Refused unless confirm is true."""
        if confirm is not True:
            raise ToolError(
                "emergency_stop refused: it stops the bot for good (it will not start again until"
                " controls/EMERGENCY_STOP is removed); call it again with confirm: true to stop"
            )
        wait = _timeout(timeout_s)
        return _outcome(home, lambda: steer.stop(home, wait))

    mcp_inbox.add_tools(server, home)
    for name in reader.STATE_FILES:
        _state_resource(server, home, name)
    for doc, what in DOCS.items():
        _doc_resource(server, home, doc, what)
    return server


def _read_text(path: Path) -> str:
    try:  # never opens a FIFO or a device put there (bot/safefile.py)
        return read_small(path, reader.MAX_STATE_FILE).decode("utf-8")
    except FileRefused as exc:
        raise FileNotFoundError(f"{path}: {exc}") from None


def _state_resource(server: MCPServer, home: Path, name: str) -> None:
    def read() -> str:
        return _read_text(Paths(home).state / name)

    server.resource(
        f"touchtrader://state/{name}",
        name=f"state/{name}",
        description=f"state/{name} as the bot last wrote it (documented in state/README.md)",
        mime_type="application/json",
    )(read)


def _doc_resource(server: MCPServer, home: Path, doc: str, what: str) -> None:
    """The doc in the home (a checkout used as home has it), else the one beside the package."""
    found = [p for p in (home / doc, Path(__file__).resolve().parent.parent / doc) if p.is_file()]
    if not found:
        return  # an install without the docs: nothing to offer rather than an empty resource
    path = found[0]

    def read() -> str:
        return _read_text(path)

    server.resource(
        f"touchtrader://docs/{doc}", name=doc, description=f"the docs of {what}", mime_type="text/markdown"
    )(read)


def serve(home: Path) -> None:
    """Serve `home` over stdio until the client closes the connection."""
    build(home).run("stdio")
