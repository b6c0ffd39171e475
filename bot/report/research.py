"""The report's sections for a quant: what the data held, the settings, what stopped
entries, what was left open, the baselines and the markets (summary.json's keys of the
same names). Plain strings, no clock: the same summary gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.report.formatting import esc


def notices(summary: Mapping[str, Any]) -> list[str]:
    """Warnings above everything: strategies that could never fire on this data."""
    out = []
    for idle in summary.get("idle_strategies") or []:
        out.append(
            f'<p class="notice">Strategy {esc(idle["strategy"])} could never fire on this data: '
            f"{esc(idle['reason'])}.</p>"
        )
    u = (summary.get("data") or {}).get("underlying") or {}
    instruments = (u.get("ticks") or {}).get("instruments") or []
    if len(instruments) > 1:
        shown = esc(", ".join(instruments))
        out.append(f'<p class="notice">One underlying series priced the markets of {shown}.</p>')
    return out


NUM = ' class="num"'


def _table(head: list[str], rows: list[list[str]], num_from: int = 1) -> str:
    out = ['<div class="scroll"><table class="trades">', "<thead><tr>"]
    out += [f"<th{NUM if i >= num_from else ''}>{esc(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f"<td{NUM if i >= num_from else ''}>{c}</td>" for i, c in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _card(title: str, body: str, note: str = "") -> str:
    extra = f'\n<p class="note top">{note}</p>' if note else ""
    return f'<section class="card"><h2>{esc(title)}</h2>{extra}\n{body}\n</section>'


def _money(value: Any) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _rate(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _data_card(summary: Mapping[str, Any]) -> str:
    d = summary.get("data") or {}
    rows = [
        ["File", esc(d.get("file", "")) + f" ({esc(d.get('format', ''))})"],
        ["Rows read / used", f"{d.get('rows_read', '—')} / {d.get('rows_used', '—')}"],
        ["Markets", str(d.get("markets", "—"))],
        ["Malformed rows", str(d.get("malformed_total", 0))],
        ["Events used / dropped", f"{d.get('events_used', 0)} / {d.get('events_dropped', 0)}"],
        ["Truncated tape", "yes: read up to the last complete line" if d.get("truncated") else "no"],
        ["Books that disagree", str(d.get("books_disagree", 0))],
    ]
    if d.get("loading"):
        rows.append(["Loading", esc(d["loading"]["reason"])])
    u = d.get("underlying")
    if u:
        ticks = u.get("ticks", {})
        rows.append(
            [
                "Underlying",
                f"{esc(u['file'])}: {u['points']} prices, {u['malformed_total']} malformed;"
                f" {ticks.get('priced', 0)} of {ticks.get('ticks', 0)} ticks priced",
            ]
        )
    else:
        rows.append(["Underlying", "none (no fair value from a price series)"])
    for row, reason in (d.get("malformed_first") or [])[:5]:
        rows.append([f"{esc(d.get('row_unit', 'row'))} {row}", esc(reason)])
    for note in d.get("notes") or []:
        rows.append(["Note", esc(note)])
    return _card("Data", _table(["", ""], rows, num_from=9))


def _settings_card(summary: Mapping[str, Any]) -> str:
    s = summary.get("settings") or {}
    risk = s.get("risk") or {}
    rows = [["Strategies", esc(", ".join(s.get("strategies", [])))]]
    for name, params in (s.get("strategy_params") or {}).items():
        rows.append([f"  {esc(name)}", esc(", ".join(f"{k}={v}" for k, v in params.items()))])
    rows += [[esc(k.replace("_", " ")), esc(v)] for k, v in risk.items()]
    rows.append(["Starting balance (USD)", _money(s.get("starting_balance"))])
    for rate, n in (s.get("fees") or {}).items():
        rows.append(["Fee rate", f"{esc(rate)} ({n} market(s))"])
    ticks = s.get("ticks") or {}
    if ticks:
        rows.append(["Tick", esc(", ".join(f"{k}: {v}" for k, v in list(ticks.items())[:10]))])
    return _card("Settings", _table(["", ""], rows, num_from=9))


def _baselines_card(summary: Mapping[str, Any]) -> str:
    base = summary.get("baselines")
    if not base:
        return ""
    head = ["Run", "Trades", "Net P&L", "Gross", "Fees", "Win rate", "Max DD"]
    rows = [
        [
            "<b>this run</b>",
            str(summary.get("trades", 0)),
            _money(summary.get("net_pnl")),
            _money(summary.get("gross_pnl")),
            _money(summary.get("fees")),
            _rate(summary.get("win_rate")),
            _money(summary.get("max_drawdown")),
        ]
    ]
    for name, b in base.items():
        rows.append(
            [
                esc(name),
                str(b["trades"]),
                _money(b["net_pnl"]),
                _money(b["gross_pnl"]),
                _money(b["fees"]),
                _rate(b["win_rate"]),
                _money(b["max_drawdown"]),
            ]
        )
    note = (
        "Same data, same engine, same limits and fees. favourite: buy the side the book favours 60 s"
        " before the end; hold_up / hold_down: buy that side at the open; all held to settlement."
    )
    return _card("Baselines", _table(head, rows), note)


def _stops_card(summary: Mapping[str, Any]) -> str:
    stops = summary.get("stops") or []
    if not stops:
        return _card("Entries stopped", '<p class="muted">No risk limit or control stopped an entry.</p>')
    rows = [
        [esc(p[k]) for k in ("limit", "start", "end", "until")] + [str(p["refusals"]), esc(p["reason"])]
        for p in stops
    ]
    head = ["Limit", "From (UTC)", "To (UTC)", "Until", "Refusals", "Reason"]
    return _card("Entries stopped", _table(head, rows, num_from=4))


def _unsettled_card(summary: Mapping[str, Any]) -> str:
    u = summary.get("unsettled") or {}
    if not u.get("positions"):
        return _card("Unsettled positions", '<p class="muted">Every position was closed or settled.</p>')
    rows = [_position_row(p) for p in u.get("list", [])]
    note = (
        f"{u['positions']} position(s) open at the end: cost {_money(u['cost'])},"
        f" value {_money(u['value'])} at the last marks."
    )
    head = ["Market", "Side", "Strategy", "Shares", "Cost", "Value"]
    return _card("Unsettled positions", _table(head, rows, 3), note)


def _position_row(p: Mapping[str, Any]) -> list[str]:
    return [
        esc(p["name"]),
        esc(p["outcome"]),
        esc(p["strategy"]),
        f"{p['shares']:g}",
        _money(p["cost"]),
        _money(p["value"]),
    ]


def _markets_card(summary: Mapping[str, Any]) -> str:
    markets = summary.get("markets") or []
    if not markets:
        return ""
    rows = [
        [
            esc(m["name"]) + _id_after(m["name"], m["market_id"]),
            str(m["trades"]),
            str(m["wins"]),
            _money(m["gross_pnl"]),
            _money(m["fees"]),
            _money(m["net_pnl"]),
        ]
        for m in markets
    ]
    return _card("Per market", _table(["Market", "Trades", "Wins", "Gross", "Fees", "Net"], rows))


def _id_after(name: str, market_id: str) -> str:
    return "" if name == market_id else f' <span class="muted">{esc(market_id)}</span>'


def _slippage_card(summary: Mapping[str, Any]) -> str:
    e = summary.get("entry_slippage")
    if not e:
        return ""
    rows = [["all", str(e["fills"]), _money(e["sum"]), _money(e["mean"])]]
    rows += [[esc(k or "—"), str(v["fills"]), _money(v["sum"]), ""] for k, v in e["by_strategy"].items()]
    note = "Entry slippage: price paid minus the token's mid at the fill, times shares (USD)."
    return _card("Entry slippage", _table(["Strategy", "Fills", "Total", "Mean"], rows), note)


def sections(summary: Mapping[str, Any]) -> list[str]:
    """The cards below the summary, in reading order."""
    cards = [
        _baselines_card(summary),
        _stops_card(summary),
        _unsettled_card(summary),
        _slippage_card(summary),
        _markets_card(summary),
        _data_card(summary),
        _settings_card(summary),
    ]
    return [c for c in cards if c]


def names(summary: Mapping[str, Any]) -> dict[str, str]:
    """Market id -> full name, from the per-market breakdown."""
    return {m["market_id"]: m["name"] for m in summary.get("markets") or []}
