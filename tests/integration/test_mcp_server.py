"""`bot mcp` driven by the MCP SDK's own client over stdio, against a real bot in a temporary home."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support import FAST_CONFIG, BotProcess, eventually, read_json

pytestmark = pytest.mark.anyio

READ_TOOLS = {"status", "positions", "open_orders", "trades", "pnl", "why_not_trading"}
STEER_TOOLS = {"pause", "resume", "flatten", "adjust_risk", "reset", "emergency_stop"}
INBOX_TOOLS = {"submit_forecast", "submit_order", "inbox_answers"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def session(
    home: Path | None, errlog: Path | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    args = ["-m", "bot", "mcp"] + (["--home", str(home)] if home is not None else [])
    params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=os.getcwd())
    with open(errlog or os.devnull, "w") as err:
        async with stdio_client(params, errlog=err) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            yield client


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def refused(client: ClientSession, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    return str(result.content[0].text)  # type: ignore[union-attr]


async def test_lists_its_tools_and_resources_and_reads_status(bot: BotProcess) -> None:
    # 30-second windows at 40x: on a busy machine the MCP server starts after five losing
    # trades in a row, and the default session limits would block entries (can_trade false)
    limits = "\n[risk]\nmax_consecutive_losses = 1000\ndaily_loss_limit_usd = 1000\n"
    (bot.home / "bot.toml").write_text(FAST_CONFIG + limits)
    bot.start().wait_ready()
    async with session(bot.home) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == READ_TOOLS | STEER_TOOLS | INBOX_TOOLS
        assert "confirm" in (tools["emergency_stop"].input_schema.get("properties") or {})
        status = await call(client, "status")
        assert status["liveness"] == "ALIVE"
        assert status["pid"] == bot.pid
        assert status["mode"] == "PAPER"
        assert status["trading_state"] == "ACTIVE"
        assert status["can_trade"] is True, status["why_not"]
        assert status["why_not"] == []
        assert await call(client, "why_not_trading") == {"can_trade": True, "reasons": []}
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert uris == {
            "touchtrader://state/status.json",
            "touchtrader://state/trading_state.json",
            "touchtrader://state/trades_today.json",
            "touchtrader://docs/state/README.md",
            "touchtrader://docs/controls/README.md",
            "touchtrader://docs/inbox/README.md",
        }
        text = (await client.read_resource("touchtrader://state/status.json")).contents[0]
        assert f'"pid": {bot.pid}' in text.text  # type: ignore[union-attr]
        doc = (await client.read_resource("touchtrader://docs/controls/README.md")).contents[0]
        assert "ADJUST_RISK" in doc.text  # type: ignore[union-attr]
        book = await call(client, "positions")
        assert set(book) == {"positions", "stats"}
        assert "total_active_positions" in book["stats"]
        assert isinstance((await call(client, "open_orders"))["orders"], list)


async def test_pause_shows_paused_in_the_files_then_resume(bot: BotProcess) -> None:
    bot.start().wait_ready()
    async with session(bot.home) as client:
        for bad in (0, -1, 301):
            assert "timeout_s" in await refused(client, "pause", timeout_s=bad)
        assert not (bot.home / "controls" / "PAUSE").exists()
        paused = await call(client, "pause")
        assert paused["answer"] == "acknowledged", paused
        assert "PAUSE APPLIED" in paused["message"], paused
        eventually(lambda: bot.status()["trading_state"] == "PAUSED")
        eventually(lambda: bot.trading_state()["controls"]["in_effect"] == ["PAUSE"])
        why = await call(client, "why_not_trading")
        assert why["can_trade"] is False, why
        assert any("PAUSE" in r for r in why["reasons"]), why
        again = await call(client, "pause")
        assert again["code"] == 0
        assert "already in effect" in again["message"]
        resumed = await call(client, "resume")
        assert resumed["answer"] == "acknowledged", resumed
        assert "APPLIED" in resumed["message"], resumed
        eventually(lambda: bot.status()["trading_state"] == "ACTIVE")
        assert not (bot.home / "controls" / "PAUSE").exists()
        assert (await call(client, "status"))["can_trade"] is True


async def test_adjust_risk_over_a_cap_is_rejected_with_the_reason(bot: BotProcess) -> None:
    bot.start().wait_ready()
    async with session(bot.home) as client:
        over = await call(client, "adjust_risk", max_position_usd=300)
        assert over["answer"] == "rejected", over
        assert over["code"] == 2, over
        assert "REJECTED" in over["message"], over
        assert "above the owner's cap" in over["message"], over
        within = await call(client, "adjust_risk", max_position_usd=3, allowed_instruments=["BTC"])
        assert within["answer"] == "acknowledged", within
        # the journal row answers first; trading_state.json shows it at its next write
        limits = eventually(lambda: _limits_now(bot, 3))
        assert limits["allowed_instruments"] == ["BTC"], limits
        assert "at least one setting" in await refused(client, "adjust_risk")


def _limits_now(bot: BotProcess, max_position_usd: float) -> dict[str, Any] | None:
    limits = bot.trading_state()["controls"]["effective_limits"]
    return limits if limits["max_position_usd"] == max_position_usd else None


async def test_emergency_stop_is_refused_without_confirm_and_stops_the_bot_with_it(bot: BotProcess) -> None:
    bot.start().wait_ready()
    async with session(bot.home) as client:
        for arguments in ({}, {"confirm": False}):
            message = await refused(client, "emergency_stop", **arguments)
            assert "confirm: true" in message, message
        assert not (bot.home / "controls" / "EMERGENCY_STOP").exists()
        assert bot.proc is not None
        assert bot.proc.poll() is None
        stopped = await call(client, "emergency_stop", confirm=True)
        assert stopped["answer"] == "acknowledged", stopped
        assert "has stopped" in stopped["message"], stopped
        assert bot.wait_exit() == 0
        assert read_json(bot.home / "state" / "status.json")["is_alive"] is False
        # with no bot running, every steering tool says so
        flat = await call(client, "flatten")
        assert flat["answer"] == "no bot running", flat
        assert flat["bot_running"] is False, flat
        pause = await call(client, "pause")
        assert pause["answer"] == "no bot running", pause
        assert "acts when one starts" in pause["message"], pause
        why = await call(client, "why_not_trading")
        assert why["can_trade"] is False, why
        assert any("EMERGENCY_STOP" in r for r in why["reasons"]), why


def _journal(home: Path, sql: str) -> Any:
    with sqlite3.connect(f"file:{home / 'state' / 'bot.db'}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchone()[0]


async def test_trades_and_pnl_agree_with_the_journal(bot: BotProcess) -> None:
    bot.start().wait_ready()
    closed = "SELECT COUNT(*) FROM positions WHERE status = 'CLOSED'"
    eventually(lambda: _journal(bot.home, closed) >= 2, timeout=60)
    bot.touch("EMERGENCY_STOP")
    bot.wait_exit(timeout=20)  # a still journal: the figures below cannot move
    total = _journal(bot.home, "SELECT SUM(realized_pnl_micros) FROM positions WHERE status = 'CLOSED'")
    async with session(bot.home) as client:
        every = (await call(client, "trades", limit=0))["trades"]
        assert len(every) == _journal(bot.home, "SELECT COUNT(*) FROM positions")
        assert len((await call(client, "trades", limit=1))["trades"]) == 1
        strategy = every[0]["strategy"]
        mine = (await call(client, "trades", strategy=strategy, limit=0))["trades"]
        assert mine
        assert all(t["strategy"] == strategy for t in mine)
        assert (await call(client, "trades", session=99, limit=0))["trades"] == []
        assert (await call(client, "trades", since="2999-01-01", limit=0))["trades"] == []
        assert "expected a date" in await refused(client, "trades", since="yesterday-ish")
        for by in ("day", "strategy", "market"):
            pnl = await call(client, "pnl", by=by)
            assert sum(r["pnl_micros"] for r in pnl["rows"]) == total
            assert pnl["totals"]["PAPER"]["pnl_micros"] == total
        assert "expected one of" in await refused(client, "pnl", by="moon")


async def test_a_folder_that_is_not_a_home_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    errlog = tmp_path.parent / f"{tmp_path.name}-mcp.err"
    for home, env in ((tmp_path, None), (None, {"TOUCHTRADER_HOME": str(tmp_path / "typo")})):
        with pytest.raises(ExceptionGroup) as caught:  # the SDK's error for a server that exited
            async with session(home, errlog, env) as client:
                await client.list_tools()
        assert "Connection closed" in repr(caught.value)
        lines = errlog.read_text().strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("bot mcp: ")
        assert "is not a bot home" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written in the folder


def test_the_server_imports_neither_the_engine_nor_the_journal_library_nor_a_venue(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "status.json").write_text('{"is_alive": false, "pid": 1, "reason": "test"}')
    heavy = ("bot.engine", "bot.journal", "bot.venues", "bot.app", "bot.storage", "sqlite_utils")
    probe = (
        "import sys; from pathlib import Path; from bot.mcp_server import build; build(Path(sys.argv[1]))\n"
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out
    assert out.stdout.strip().splitlines()[-1] == "[]", out


def test_why_not_trading_names_every_reason_in_the_files(tmp_path: Path) -> None:
    from bot.mcp_server import why_not

    state = tmp_path / "state"
    state.mkdir()
    (state / "status.json").write_text(
        json.dumps(
            {
                "is_alive": False,
                "pid": 1,
                "reason": "daily loss limit hit",
                "trading_state": "HALTED",
                "risk": {"can_trade": False, "reason": "daily loss $10.00 reached the limit $10.00"},
            }
        )
    )
    (state / "trading_state.json").write_text(
        json.dumps(
            {
                "trading_state": "HALTED",
                "trading_state_reason": "daily loss limit hit",
                "controls": {"in_effect": ["HALTED"]},
            }
        )
    )
    (tmp_path / "controls").mkdir()
    (tmp_path / "controls" / "EMERGENCY_STOP").write_text("")
    answer = why_not(tmp_path)
    assert answer["can_trade"] is False
    assert answer["reasons"] == [
        "the bot is DEAD: stopped: daily loss limit hit",
        "trading state HALTED: daily loss limit hit",
        "risk: daily loss $10.00 reached the limit $10.00",
        "controls in effect: HALTED",
        "controls/EMERGENCY_STOP exists: the bot stops (or will not start) until it is removed",
    ]


async def test_submit_a_forecast_and_an_order_intent_and_read_the_answers(tmp_path: Path) -> None:
    config = FORECAST_CONFIG
    bot = BotProcess(tmp_path, config)
    try:
        bot.start().wait_ready()
        async with session(bot.home) as client:
            assert "exactly one of valid_until" in await refused(
                client, "submit_forecast", market="BTC", probability=0.5
            )
            sure = await call(
                client, "submit_forecast", market="BTC", probability=0.99, valid_for_s=600, source="agent-x"
            )
            assert sure["result"] == "accepted", sure
            assert sure["bot_running"] is True, sure
            assert sure["forecast"]["source"] == "agent-x"
            assert sure["market_id"].startswith("BTC-")
            eventually(lambda: any(o["strategy"] == "forecast" for o in _orders_and_positions(bot)))
            bad = await call(client, "submit_forecast", market="BTC", probability=1.2, valid_for_s=60)
            assert bad["result"] == "rejected", bad
            assert "outside [0, 1]" in bad["reason"], bad
            placed = await call(
                client,
                "submit_order",
                market="ETH",
                outcome="DOWN",
                limit_price=0.05,
                shares=5,
                reason="hedge",
            )
            assert placed["result"] == "accepted", placed
            assert placed["order"]["order_id"], placed
            with sqlite3.connect(bot.home / "state" / "bot.db") as db:
                row = db.execute(
                    "SELECT strategy, outcome FROM orders WHERE order_id = ?", (placed["order"]["order_id"],)
                ).fetchone()
            assert row == ("inbox", "DOWN")
            answers = (await call(client, "inbox_answers", limit=2))["answers"]
            assert [a["file"] for a in answers] == [placed["file"], bad["file"]]
    finally:
        bot.stop()
    async with session(bot.home) as client:  # no bot: the file waits, the tool says so
        late = await call(
            client, "submit_order", market="ETH", outcome="UP", limit_price=0.05, usd=1, timeout_s=0.3
        )
        assert late["result"] == "no answer", late
        assert late["bot_running"] is False, late
        assert (bot.home / "inbox" / late["file"]).exists()


FORECAST_CONFIG = """
heartbeat_s = 0.5
state_refresh_s = 0.2

[market]
window_s = 3600

[strategies]
enabled = ["forecast"]
"""


def _orders_and_positions(bot: BotProcess) -> list[dict[str, Any]]:
    state = bot.trading_state()
    return [*state["open_orders"], *state["active_positions"]]
