"""bot.report: the SVG picture and the HTML page of a backtest run."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import orjson

from bot.metrics import ClosedTrade, EquityPoint, summarize
from bot.model import ONE
from bot.report import MAX_POINTS, downsample, write_report

SVG = "{http://www.w3.org/2000/svg}"
START = 1_000 * ONE
T0 = 1_763_769_600_000  # 2025-11-22 00:00 UTC
PANELS = ("panel-equity", "panel-drawdown", "panel-strategies")


def make_run(
    n_trades: int = 120, n_points: int = 3_000, seed: int = 3, losing: bool = False
) -> tuple[list[ClosedTrade], list[EquityPoint]]:
    rng = random.Random(seed)
    strategies = ["momentum", "fade", "maker <spread> & co"]
    trades = []
    for i in range(n_trades):
        entry = rng.randint(10, 90) * 10_000
        exit_ = rng.randint(1, 99) * 10_000
        shares = rng.randint(5, 50) * ONE
        gross = (exit_ - entry) * shares // ONE
        if losing:
            gross = -abs(gross) - 10_000
        fees = rng.randint(0, 20_000)
        trades.append(
            ClosedTrade(
                trade_id=f"T{i}",
                strategy=strategies[i % 3],
                market_id=f"btc-15m-{i // 4}",
                outcome="UP" if i % 2 else "DOWN",
                entry_ms=T0 + i * 600_000,
                exit_ms=T0 + i * 600_000 + 300_000,
                shares=shares,
                entry_price=entry,
                exit_price=exit_,
                intended_exit_price=exit_ + 100 if i % 3 else None,
                gross_pnl=gross,
                fees=fees,
                net_pnl=gross - fees,
                exit_reason="settled",
            )
        )
    step = max(1, (n_trades * 600_000) // max(1, n_points))
    equity, cash, k = [], START, 0
    for j in range(n_points):
        ts = T0 + j * step
        while k < n_trades and trades[k].exit_ms <= ts:
            cash += trades[k].net_pnl
            k += 1
        equity.append(EquityPoint(ts, cash + rng.randint(-500_000, 500_000)))
    return trades, equity


def render(
    tmp_path: Path,
    trades: list[ClosedTrade],
    equity: list[EquityPoint],
    title: str = "Test run",
    name: str = "out",
) -> tuple[dict, str, str, ET.Element]:
    summary = summarize(trades, equity, starting_balance=START)
    paths = write_report(tmp_path / name, summary, equity, trades, title)
    assert set(paths) == {"svg", "html"}
    svg = paths["svg"].read_text("utf-8")
    page = paths["html"].read_text("utf-8")
    return summary, svg, page, ET.fromstring(svg.encode("utf-8"))


def panel_ids(root: ET.Element) -> list[str]:
    return [g.get("id", "") for g in root.iter(f"{SVG}g") if g.get("class") == "panel"]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_svg_parses_and_has_three_panels(tmp_path: Path) -> None:
    trades, equity = make_run()
    _, _, _, root = render(tmp_path, trades, equity)
    assert root.tag == f"{SVG}svg"
    assert panel_ids(root) == list(PANELS)
    shown = texts(root)
    assert "Equity" in shown
    assert "Net P&L by strategy" in shown
    assert "Nov 22" in shown
    assert "06:00" in shown
    assert any(re.fullmatch(r"-?\$[\d,]+", t) for t in shown)  # dollar y axis
    assert len(list(root.iter(f"{SVG}polyline"))) == 2  # equity and drawdown curves
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("height") == "22"]
    assert len(bars) == 3


def test_html_shows_the_summary_figures(tmp_path: Path) -> None:
    trades, equity = make_run()
    s, _, page, _ = render(tmp_path, trades, equity)
    for key in (
        "net_pnl",
        "gross_pnl",
        "fees",
        "final_equity",
        "max_drawdown",
        "avg_trade_pnl",
        "best_trade",
        "worst_trade",
        "starting_balance",
    ):
        assert f">{s[key]:.2f}<" in page, key
    for key in ("return_pct", "max_drawdown_pct"):
        assert f">{s[key]:.1f}%<" in page, key
    assert f">{s['win_rate'] * 100:.1f}%<" in page
    assert f">{s['slippage']['sum']:.2f}<" in page
    assert f">{s['trades']}<" in page
    assert f">{s['wins']}<" in page
    for name, row in s["per_strategy"].items():
        assert f"<td>{name.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</td>" in (page)
        assert f">{row['net_pnl']:.2f}<" in page
    assert "<svg" in page
    assert all(f'id="{p}"' in page for p in PANELS)


def test_html_is_self_contained(tmp_path: Path) -> None:
    trades, equity = make_run()
    _, _, page, _ = render(tmp_path, trades, equity)
    lowered = page.lower()
    for banned in ("<script", "<link", "http://", "https://", "src=", "url(", "@import"):
        assert banned not in lowered, banned


def test_output_is_deterministic(tmp_path: Path) -> None:
    trades, equity = make_run()
    summary = summarize(trades, equity, starting_balance=START)
    first = write_report(tmp_path / "a", summary, equity, trades, "Run")
    # a summary read back from summary.json gives the same bytes
    reloaded = orjson.loads(orjson.dumps(summary))
    second = write_report(tmp_path / "b", reloaded, equity, trades, "Run")
    for key in ("svg", "html"):
        assert first[key].read_bytes() == second[key].read_bytes()


def test_zero_trades_says_so(tmp_path: Path) -> None:
    equity = [EquityPoint(T0 + i * 60_000, START) for i in range(30)]
    s, _, page, root = render(tmp_path, [], equity)
    assert s["trades"] == 0
    assert panel_ids(root) == list(PANELS)
    assert "No trades" in texts(root)
    assert not list(root.iter(f"{SVG}polyline"))  # no empty axes or flat lines
    assert "No trades" in page
    assert "1000.00" in page


def test_no_equity_and_no_trades(tmp_path: Path) -> None:
    _, _, page, root = render(tmp_path, [], [])
    assert panel_ids(root) == list(PANELS)
    assert "No equity data" in texts(root)
    assert "No trades" in page


def test_one_equity_point(tmp_path: Path) -> None:
    trades, _ = make_run(n_trades=1)
    _, _, _, root = render(tmp_path, trades, [EquityPoint(T0, START + trades[0].net_pnl)])
    assert panel_ids(root) == list(PANELS)
    assert len(list(root.iter(f"{SVG}circle"))) >= 1


def test_flat_equity_with_trades(tmp_path: Path) -> None:
    trades, _ = make_run(n_trades=3)
    equity = [EquityPoint(T0 + i * 1_000, START) for i in range(10)]
    _, _, _, root = render(tmp_path, trades, equity)
    assert len(list(root.iter(f"{SVG}polyline"))) == 1  # equity line; no drawdown to draw
    assert "No drawdown" in texts(root)


def test_negative_only_pnl(tmp_path: Path) -> None:
    trades, equity = make_run(losing=True)
    s, _, _, root = render(tmp_path, trades, equity)
    assert all(row["net_pnl"] < 0 for row in s["per_strategy"].values())
    labels = [t for t in texts(root) if t.startswith("-$") and "." in t]
    assert len(labels) >= 3  # each bar labelled with its (negative) value
    assert all(f"{-row['net_pnl']:.2f}" in " ".join(labels) for row in s["per_strategy"].values())


def test_many_points_are_downsampled_in_the_picture(tmp_path: Path) -> None:
    trades, equity = make_run(n_points=50_000)
    _, _, _, root = render(tmp_path, trades, equity)
    for line in root.iter(f"{SVG}polyline"):
        assert len(line.get("points", "").split()) <= MAX_POINTS


def test_title_and_names_are_escaped(tmp_path: Path) -> None:
    trades, equity = make_run(n_trades=6, n_points=50)
    _, svg, page, root = render(tmp_path, trades, equity, title='<b>"Run" & co</b>')
    assert "<b>" not in svg
    assert "<b>" not in page
    assert "&lt;b&gt;&quot;Run&quot; &amp; co&lt;/b&gt;" in page
    assert '<b>"Run" & co</b>' in texts(root)


def test_trades_table_is_capped(tmp_path: Path) -> None:
    trades, equity = make_run(n_trades=620, n_points=100)
    _, _, page, _ = render(tmp_path, trades, equity)
    body = page.split('<table class="trades">', 1)[1].split("</table>", 1)[0]
    assert body.count("<tr>") == 1 + 500  # header row and 500 trades
    assert "first 500 of 620 trades; 120 more" in page


def test_downsample_keeps_extremes_and_ends() -> None:
    rng = random.Random(1)
    points = [(i, rng.randint(-1_000, 1_000)) for i in range(100_000)]
    points[73_421] = (73_421, -50_000)
    points[12_345] = (12_345, 60_000)
    out = downsample(points, 2_000)
    assert len(out) <= 2_000
    assert (73_421, -50_000) in out
    assert (12_345, 60_000) in out
    assert out[0] == points[0]
    assert out[-1] == points[-1]
    assert [x for x, _ in out] == sorted(x for x, _ in out)
    assert downsample(points[:10], 2_000) == points[:10]


def test_trade_columns_share_decimals_and_stay_exact(tmp_path: Path) -> None:
    trades, equity = make_run(n_trades=2, n_points=10)
    trades[0] = replace(trades[0], gross_pnl=5_400_000, fees=3_801, net_pnl=5_396_199)
    trades[1] = replace(trades[1], gross_pnl=-1_000_000, fees=0, net_pnl=-1_000_000)
    _, _, page, _ = render(tmp_path, trades, equity)
    table = page.split('<table class="trades">', 1)[1]
    for shown in ("5.40", "-1.00", "0.003801", "0.000000", "5.396199", "-1.000000"):
        assert f">{shown}</td>" in table, shown
