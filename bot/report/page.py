"""The report page: one self-contained HTML file with the picture, the summary, the
per-strategy table and the first MAX_TRADE_ROWS trades (no scripts, fonts or links).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.metrics import ClosedTrade
from bot.report import research
from bot.report.formatting import (
    duration,
    esc,
    exact_decimals,
    exit_stamp,
    fixed,
    fmt_money,
    fmt_pct,
    fmt_ratio_pct,
    number,
    stamp,
    strategy_rows,
)

MAX_TRADE_ROWS = 500


_CSS = """
*{box-sizing:border-box}
body{margin:0;padding:24px;background:#f3f4f6;color:#1f2328;
 font:14px/1.45 "DejaVu Sans","Segoe UI","Helvetica Neue",Helvetica,Arial,sans-serif}
main{max-width:1280px;margin:0 auto}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 10px}
.sub{color:#656d76;margin:0 0 18px}
.notice{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:10px 14px;
 margin:0 0 18px;font-weight:bold}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 16px;
 margin:0 0 18px}
figure.card{padding:6px}
figure svg{display:block;width:100%;height:auto}
.cols{display:grid;grid-template-columns:minmax(300px,2fr) 3fr;gap:18px;align-items:start}
@media (max-width:900px){.cols{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:left;white-space:nowrap}
th{color:#656d76;font-weight:600;font-size:12px}
td.num,th.num{text-align:right}
tr.group td{padding-top:12px;color:#656d76;font-size:12px;font-weight:600;border-bottom:none;
 white-space:normal}
.pos{color:#1a7f37}.neg{color:#cf222e}.muted{color:#656d76}
.scroll{overflow-x:auto}
.trades{font-size:12px}
.trades th,.trades td{padding:3px 6px}
.trades td.id{max-width:9em;overflow:hidden;text-overflow:ellipsis}
.note{color:#656d76;margin:10px 0 0}
.note.top{margin:-6px 0 8px;font-size:12px}
footer{color:#656d76;font-size:12px;line-height:1.6}
"""


NUM_CLASS = ' class="num"'


def _cls(value: Any) -> str:
    v = number(value)
    return "num pos" if v is not None and v > 0 else "num neg" if v is not None and v < 0 else "num"


def _fee_rates(summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The fee schedules the data's markets were charged, from summary["data"]["fees"]."""
    data = summary.get("data")
    fees = data.get("fees") if isinstance(data, Mapping) else None
    return list(fees.items()) if isinstance(fees, Mapping) else []


def _summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str] | str]:
    """(label, shown value, css class) rows with group headings as plain strings."""
    s = summary
    rows: list[tuple[str, str, str] | str] = [
        "Result",
        ("Net P&L (USD)", fmt_money(s.get("net_pnl")), _cls(s.get("net_pnl"))),
        ("Return", fmt_pct(s.get("return_pct")), _cls(s.get("return_pct"))),
        ("Starting balance (USD)", fmt_money(s.get("starting_balance")), "num"),
        ("Final equity (USD)", fmt_money(s.get("final_equity")), "num"),
        ("Gross P&L (USD)", fmt_money(s.get("gross_pnl")), _cls(s.get("gross_pnl"))),
        ("Fees (USD)", fmt_money(s.get("fees")), "num"),
        *[("Fee rate", f"{rate} ({n} market(s))", "") for rate, n in _fee_rates(s)],
        "Risk",
        ("Max drawdown (USD)", fmt_money(s.get("max_drawdown")), "num"),
        ("Max drawdown", fmt_pct(s.get("max_drawdown_pct")), "num"),
    ]
    exposure = s.get("exposure")
    if isinstance(exposure, Mapping):
        rows.append(("Max capital deployed (USD)", fmt_money(exposure.get("max")), "num"))
        rows.append(("Mean capital deployed (USD)", fmt_money(exposure.get("mean")), "num"))
    rows += [
        "Trades",
        ("Trades", str(s.get("trades", 0)), "num"),
        ("Wins", str(s.get("wins", 0)), "num"),
        ("Losses", str(s.get("losses", 0)), "num"),
        *([("Breakeven", str(s.get("breakeven")), "num")] if "breakeven" in s else []),
        ("Win rate", fmt_ratio_pct(s.get("win_rate")), "num"),
        ("Average trade (USD)", fmt_money(s.get("avg_trade_pnl")), _cls(s.get("avg_trade_pnl"))),
        ("Best trade (USD)", fmt_money(s.get("best_trade")), _cls(s.get("best_trade"))),
        ("Worst trade (USD)", fmt_money(s.get("worst_trade")), _cls(s.get("worst_trade"))),
    ]
    slippage = s.get("slippage")
    if isinstance(slippage, Mapping):
        n = slippage.get("trades", 0)
        rows += [
            f"Exit slippage ({n} exits with a known intended price)",
            ("Total slippage (USD)", fmt_money(slippage.get("sum")), "num"),
            ("Mean per exit (USD)", fmt_money(slippage.get("mean")), "num"),
        ]
        if "adverse" in slippage:
            rows.append(("Net cost vs intended (USD)", fmt_money(slippage.get("adverse")), "num"))
    return rows


def _summary_table(summary: Mapping[str, Any]) -> str:
    out = ['<table class="kv">']
    for row in _summary_rows(summary):
        if isinstance(row, str):
            out.append(f'<tr class="group"><td colspan="2">{esc(row)}</td></tr>')
        else:
            label, value, cls = row
            out.append(f'<tr><th scope="row">{esc(label)}</th><td class="{cls}">{esc(value)}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def _strategy_table(summary: Mapping[str, Any]) -> str:
    rows = strategy_rows(summary)
    if not rows:
        return '<p class="muted">No trades.</p>'
    head = ("Strategy", "Trades", "Wins", "Win rate", "Gross (USD)", "Fees (USD)", "Net (USD)")
    out = ["<table>", "<thead><tr>"]
    out += [f"<th{'' if i == 0 else NUM_CLASS}>{esc(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for name, st in rows:
        cells = [
            f"<td>{esc(name)}</td>",
            f'<td class="num">{esc(st.get("trades", 0))}</td>',
            f'<td class="num">{esc(st.get("wins", 0))}</td>',
            f'<td class="num">{esc(fmt_ratio_pct(st.get("win_rate")))}</td>',
            f'<td class="{_cls(st.get("gross_pnl"))}">{esc(fmt_money(st.get("gross_pnl")))}</td>',
            f'<td class="num">{esc(fmt_money(st.get("fees")))}</td>',
            f'<td class="{_cls(st.get("net_pnl"))}">{esc(fmt_money(st.get("net_pnl")))}</td>',
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _trades_table(trades: Sequence[ClosedTrade], total: int, names: Mapping[str, str] | None = None) -> str:
    names = names or {}
    if not trades:
        return '<p class="muted">No trades.</p>'
    head = (
        ("#", True),
        ("Trade", False),
        ("Strategy", False),
        ("Market", False),
        ("Side", False),
        ("Entry (UTC)", False),
        ("Exit (UTC)", False),
        ("Held", True),
        ("Shares", True),
        ("Entry px", True),
        ("Exit px", True),
        ("Intended", True),
        ("Gross", True),
        ("Fees", True),
        ("Net", True),
        ("Reason", False),
    )
    out = ['<div class="scroll"><table class="trades">', "<thead><tr>"]
    out += [f"<th{NUM_CLASS if num else ''}>{esc(h)}</th>" for h, num in head]
    out.append("</tr></thead><tbody>")
    rows = trades[:MAX_TRADE_ROWS]
    # one number of decimals per column, as few as show every value in it exactly
    dec_shares = exact_decimals(t.shares for t in rows)
    dec_price = exact_decimals(
        [t.entry_price for t in rows]
        + [t.exit_price for t in rows]
        + [t.intended_exit_price for t in rows if t.intended_exit_price is not None]
    )
    dec_gross = exact_decimals(t.gross_pnl for t in rows)
    dec_fees = exact_decimals(t.fees for t in rows)
    dec_net = exact_decimals(t.net_pnl for t in rows)
    for i, t in enumerate(rows, start=1):
        intended = "—"
        if t.intended_exit_price is not None:
            intended = fixed(t.intended_exit_price, dec_price)
        cells = [
            f'<td class="num muted">{i}</td>',
            f'<td class="id" title="{esc(t.trade_id)}">{esc(t.trade_id)}</td>',
            f"<td>{esc(t.strategy)}</td>",
            f'<td title="{esc(t.market_id)}">{esc(names.get(t.market_id, t.market_id))}</td>',
            f"<td>{esc(t.outcome)}</td>",
            f"<td>{esc(stamp(t.entry_ms))}</td>",
            f"<td>{esc(exit_stamp(t.entry_ms, t.exit_ms))}</td>",
            f'<td class="num">{esc(duration(t.exit_ms - t.entry_ms))}</td>',
            f'<td class="num">{fixed(t.shares, dec_shares)}</td>',
            f'<td class="num">{fixed(t.entry_price, dec_price)}</td>',
            f'<td class="num">{fixed(t.exit_price, dec_price)}</td>',
            f'<td class="num">{intended}</td>',
            f'<td class="{_cls(t.gross_pnl)}">{fixed(t.gross_pnl, dec_gross)}</td>',
            f'<td class="num">{fixed(t.fees, dec_fees)}</td>',
            f'<td class="{_cls(t.net_pnl)}">{fixed(t.net_pnl, dec_net)}</td>',
            f"<td>{esc(t.exit_reason)}</td>",
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    shown = min(len(trades), MAX_TRADE_ROWS)
    if total > shown:
        out.append(
            f'<p class="note">Showing the first {shown} of {total} trades; '
            f"{total - shown} more are not listed here.</p>"
        )
    return "\n".join(out)


def render_html(
    summary: Mapping[str, Any],
    svg: str,
    trades: Sequence[ClosedTrade],
    title: str,
) -> str:
    """The HTML page embedding `svg` (an SVG document from `render_svg`, whose heading
    serves as the page's visible title)."""
    inline = svg.split("?>", 1)[1].lstrip() if svg.startswith("<?xml") else svg
    inline = inline.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
    n = summary.get("trades") or 0
    total = max(len(trades), n if isinstance(n, int) else 0)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f'<h1 class="sr">{esc(title)}</h1>',
    ]
    if not n:
        parts.append('<p class="notice">No trades: this run closed no trades.</p>')
    parts += research.notices(summary)
    parts += [
        f'<figure class="card">{inline}</figure>',
        '<div class="cols">',
        f'<section class="card"><h2>Summary</h2>\n{_summary_table(summary)}\n</section>',
        f'<section class="card"><h2>Per strategy</h2>\n{_strategy_table(summary)}\n</section>',
        "</div>",
        '<section class="card"><h2>Trades</h2>',
        '<p class="note top">Prices per share (intended: the exit price aimed for); gross, '
        "fees and net in USD; times UTC.</p>",
        _trades_table(trades, total, research.names(summary)),
        "</section>",
        *research.sections(summary),
        "<footer>Money in USD, times in UTC. Win rate: share of trades with a net P&amp;L "
        "(after fees) above zero. Drawdown: fall of equity from its running peak, the peak "
        "starting at the starting balance. Exit slippage: |exit fill − intended exit price| "
        "× shares; net cost counts fills below the intended price as cost.</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
