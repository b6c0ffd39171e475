"""`bot mcp`'s inbox tools: submit a forecast or an order intent, and read the answers.

They write into inbox/ exactly as a script would (bot/inbox_client.py: write, then rename)
and wait for the bot's acknowledgement, so the same validation, journal and risk rules
apply as to any file dropped there (inbox/README.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from bot import inbox_client
from bot.home import running
from bot.model import iso

TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 300.0


def _submit(home: Path, item: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    if not 0 < timeout_s <= MAX_TIMEOUT_S:  # NaN too
        raise ToolError(f"timeout_s {timeout_s}: expected more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    was_running = running(home).pid is not None
    item = {k: v for k, v in item.items() if v is not None}
    try:
        answer = inbox_client.submit(home, item, timeout_s)
    except inbox_client.InboxClientError as exc:
        raise ToolError(str(exc)) from None
    if not was_running and answer.get("result") == "no answer":
        answer["reason"] = "no bot running: " + str(answer.get("reason", ""))
    return {"bot_running": was_running, **answer}


def add_tools(server: MCPServer, home: Path) -> None:
    @server.tool()
    def submit_forecast(
        market: str,
        probability: float,
        source: str = "mcp",
        valid_until: str | None = None,
        valid_for_s: float | None = None,
        outcome: str = "UP",
        note: str | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> dict[str, Any]:
        """Hand the bot a forecast: the probability (0 to 1) that `market` finishes `outcome`
        (UP or DOWN), valid until `valid_until` (ISO-8601 with a zone) or for `valid_for_s`
        seconds from now. market: its id, a token id, its name or an instrument (BTC: the
        window open now). The `forecast` strategy (when enabled) buys the side it favours
        when it beats the ask by its min_edge; every strategy sees it. Returns the bot's
        answer: result accepted or rejected with the reason (inbox/done/NAME.*.json)."""
        if (valid_until is None) == (valid_for_s is None):
            raise ToolError("give exactly one of valid_until (ISO-8601) and valid_for_s (seconds from now)")
        until = (
            valid_until if valid_until is not None else iso(round((time.time() + (valid_for_s or 0)) * 1000))
        )
        item = {
            "kind": "forecast",
            "market": market,
            "probability": probability,
            "outcome": outcome,
            "valid_until": until,
            "source": source,
            "note": note,
        }
        return _submit(home, item, timeout_s)

    @server.tool()
    def submit_order(
        market: str,
        outcome: str,
        limit_price: float,
        usd: float | None = None,
        shares: float | None = None,
        time_in_force: str = "GTC",
        ttl_s: int | None = None,
        reason: str | None = None,
        source: str = "mcp",
        timeout_s: float = TIMEOUT_S,
    ) -> dict[str, Any]:
        """Ask the bot to buy `outcome` (UP or DOWN) of `market` at most at `limit_price`, for
        `usd` dollars or `shares` shares (one of them). time_in_force: GTC, GTD (with ttl_s),
        FOK or FAK. It goes through the bot's order manager like any strategy's signal:
        PAUSE, HALTED and every risk limit and cap apply. Returns the bot's answer: accepted
        with the order (order_id, status) or rejected with the reason."""
        item = {
            "kind": "order",
            "market": market,
            "outcome": outcome,
            "limit_price": limit_price,
            "usd": usd,
            "shares": shares,
            "time_in_force": time_in_force,
            "ttl_s": ttl_s,
            "reason": reason,
            "source": source,
        }
        return _submit(home, item, timeout_s)

    @server.tool()
    def inbox_answers(limit: int = 20) -> dict[str, Any]:
        """The bot's latest answers to inbox files (forecasts and order intents), newest first:
        result accepted or rejected, the reason, and for orders the order id."""
        if limit < 0:
            raise ToolError(f"limit {limit}: expected 0 or more")
        return {"answers": inbox_client.answers(home, limit)}
