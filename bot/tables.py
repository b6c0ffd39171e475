"""Text tables and JSON for `bot sessions`, `bot trades` and `bot pnl` (rows from bot.queries).

JSON keeps every `*_micros` integer and adds the same figure in USDC or as a price without
the suffix (`pnl_micros: 4996100` and `pnl: 4.9961`, the exact decimal), so `jq` users and
programs that want integers are both served.
"""

from __future__ import annotations

import json
from typing import Any

from bot.figures import num, pct, usd
from bot.queries import totals


def with_dollars(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with, beside every `X_micros`, `X` in USDC (or as a price): the exact decimal."""
    out = []
    for row in rows:
        item = dict(row)
        for key, value in row.items():
            if key.endswith("_micros"):
                item[key.removesuffix("_micros")] = None if value is None else value / 1_000_000
        out.append(item)
    return out


def as_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(with_dollars(rows), indent=2)


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def _money(value: int | None, sign: bool = True) -> str:
    return "-" if value is None else usd(value, sign)


def _price(value: int | None) -> str:
    return "-" if value is None else num(value)


def trades(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no trades"
    body = [
        [
            r["entry_time"] or "-",
            str(r["session_id"] if r["session_id"] is not None else "-"),
            r["mode"],
            r["market"],
            r["side"],
            num(r["shares_micros"]),
            _price(r["entry_price_micros"]),
            _price(r["exit_price_micros"]),
            _money(r["fees_micros"], sign=False),
            _money(r["pnl_micros"]) if r["status"] == "CLOSED" else "open",
            r["strategy"],
            r["exit_reason"] or "",
        ]
        for r in rows
    ]
    headers = ["entry (market time)", "session", "mode", "market", "side", "shares", "entry", "exit"]
    headers += ["fees", "P&L", "strategy", "exit reason"]
    return table(headers, body, right={1, 5, 6, 7, 8, 9})


def sessions(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no sessions"
    body = [
        [
            str(r["session_id"]),
            r["mode"],
            r["started_at"] or "-",
            r["stopped_at"] or "(running, or killed)",
            r["exit_reason"] or "-",
            f"{r['trades']} ({r['open_trades']} open)",
            pct(r["wins"], r["closed_trades"]),
            usd(r["pnl_micros"], sign=True),
        ]
        for r in rows
    ]
    headers = ["session", "mode", "started (wall clock)", "stopped", "exit reason", "trades", "won", "P&L"]
    return table(headers, body, right={0, 5, 6, 7})


def pnl(rows: list[dict[str, Any]], by: str) -> str:
    if not rows:
        return "no closed trades"
    body = [
        [
            r["key"],
            r["mode"],
            str(r["trades"]),
            pct(r["wins"], r["trades"]),
            usd(r["gross_pnl_micros"], sign=True),
            usd(r["fees_micros"]),
            usd(r["pnl_micros"], sign=True),
        ]
        for r in rows
    ]
    for mode, t in totals(rows).items():
        body.append(
            [
                "total",
                mode,
                str(t["trades"]),
                pct(t["wins"], t["trades"]),
                usd(t["gross_pnl_micros"], sign=True),
                usd(t["fees_micros"]),
                usd(t["pnl_micros"], sign=True),
            ]
        )
    return table([by, "mode", "trades", "won", "gross P&L", "fees", "net P&L"], body, right={2, 3, 4, 5, 6})
