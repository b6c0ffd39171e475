"""What a backtest leaves behind: its closed trades, the data summary and the result files.

`bot.backtest` runs the engine; this module turns the journal and what loading the data
found into trades.csv, summary.json and the report (bot.report). Nothing here reads the
wall clock: the same run gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

from bot.feeds.replay import ReplayFeed
from bot.journal import Journal
from bot.metrics import ClosedTrade, EquityPoint
from bot.model import ONE, Mode, iso
from bot.report import write_report
from bot.safefile import printable


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


def data_summary(source: Any, feed: ReplayFeed) -> dict[str, Any]:
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
    if source.loading:  # streamed (memory flat with the file's length) or read whole, and why
        info["loading"] = dict(source.loading)
    return info


def trade_sharpe(trades: list[ClosedTrade]) -> float | None:
    """Mean over sample standard deviation of the trades' net P&L (per trade, not annualized);
    None under two trades or when every trade made the same."""
    n = len(trades)
    if n < 2:
        return None
    nets = [t.net_pnl for t in trades]
    mean = Fraction(sum(nets), n)
    var = sum((Fraction(x) - mean) ** 2 for x in nets) / (n - 1)
    if var == 0:
        return None
    return round(float(mean) / math.sqrt(var), 6)


def settings_digest(config: Any, data: dict[str, Any]) -> dict[str, Any]:
    """What a reader must know to trust the figures: strategies, limits, fees and ticks."""
    risk = config.risk
    return {
        "strategies": list(config.strategies.enabled),
        "strategy_params": {k: dict(v) for k, v in sorted(config.strategies.params.items())},
        "risk": {
            "max_position_usd": risk.max_position_usd,
            "max_market_exposure_usd": risk.max_market_exposure_usd,
            "max_total_exposure_usd": risk.max_total_exposure_usd,
            "max_open_orders": risk.max_open_orders,
            "max_orders_per_window": risk.max_orders_per_window,
            "daily_loss_limit_usd": risk.daily_loss_limit_usd,
            "max_consecutive_losses": risk.max_consecutive_losses,
        },
        "starting_balance": config.paper.starting_balance,
        "fees": data.get("fees", {}),
        "ticks": data.get("ticks", {}),
    }


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


def write_results(
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
