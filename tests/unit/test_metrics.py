"""bot.metrics: exact sums, drawdowns, win rates and per-strategy tables."""

from __future__ import annotations

import orjson
import pytest

from bot.metrics import ClosedTrade, EquityPoint, drawdown_series, summarize
from bot.model import ONE

START = 1_000 * ONE


def trade(
    n: int,
    strategy: str,
    net: int,
    *,
    fees: int = 0,
    shares: int = 10 * ONE,
    exit_price: int = 500_000,
    intended: int | None = None,
) -> ClosedTrade:
    return ClosedTrade(
        trade_id=f"T{n}",
        strategy=strategy,
        market_id="m1",
        outcome="UP",
        entry_ms=1_000 * n,
        exit_ms=1_000 * n + 500,
        shares=shares,
        entry_price=400_000,
        exit_price=exit_price,
        intended_exit_price=intended,
        gross_pnl=net + fees,
        fees=fees,
        net_pnl=net,
        exit_reason="target",
    )


def curve(*values: int) -> list[EquityPoint]:
    return [EquityPoint(1_000 * i, v) for i, v in enumerate(values)]


def micros(usd: float) -> int:
    return round(usd * ONE)


def test_drawdown_series_of_a_known_curve() -> None:
    eq = curve(100, 120, 90, 130, 65, 140)
    assert drawdown_series(eq) == [
        (0, 0),
        (1000, 0),
        (2000, -30),
        (3000, 0),
        (4000, -65),
        (5000, 0),
    ]


def test_drawdown_series_seeded_with_the_starting_balance() -> None:
    eq = curve(100, 120, 90)
    assert [d for _, d in drawdown_series(eq, peak=150)] == [-50, -30, -60]
    assert [d for _, d in drawdown_series(eq, peak=50)] == [0, 0, -30]
    assert drawdown_series([]) == []


def test_summary_of_a_known_run() -> None:
    trades = [
        trade(1, "a", 3 * ONE, fees=10_000),
        trade(2, "a", -1 * ONE, fees=20_000),
        trade(3, "b", 0),
        trade(4, "b", 2_500_000, fees=5_000),
        trade(5, "a", -500_000),
    ]
    eq = curve(START, START + 3 * ONE, START + 1 * ONE, START + 5 * ONE, START + 4 * ONE)
    s = summarize(trades, eq, starting_balance=START)
    assert (s["trades"], s["wins"], s["losses"], s["breakeven"]) == (5, 2, 2, 1)
    assert s["win_rate"] == 0.4
    assert s["net_pnl"] == 4.0
    assert s["fees"] == 0.035
    assert s["gross_pnl"] == 4.035
    assert s["avg_trade_pnl"] == 0.8
    assert s["best_trade"] == 3.0
    assert s["worst_trade"] == -1.0
    assert s["starting_balance"] == 1000.0
    assert s["final_equity"] == 1004.0
    assert s["return_pct"] == 0.4
    assert s["max_drawdown"] == 2.0  # 1003 -> 1001
    assert s["max_drawdown_pct"] == round(2 / 1003 * 100, 4)
    assert (s["start_ms"], s["end_ms"]) == (0, 4000)
    assert s["exposure"] is None


def test_per_strategy_sums_reconcile_to_totals() -> None:
    trades = [
        trade(i, name, net, fees=fee)
        for i, (name, net, fee) in enumerate(
            [("a", 1_234_567, 3_001), ("b", -765_433, 7), ("a", -1, 1), ("c", 99, 0), ("b", 5, 2)] * 7
        )
    ]
    s = summarize(trades, [], starting_balance=START)
    table = s["per_strategy"]
    assert list(table) == ["a", "b", "c"]
    for key in ("net_pnl", "gross_pnl", "fees"):
        assert sum(micros(row[key]) for row in table.values()) == micros(s[key])
    assert sum(row["trades"] for row in table.values()) == s["trades"] == 35
    assert sum(row["wins"] for row in table.values()) == s["wins"]
    assert table["a"] == {
        "trades": 14,
        "wins": 7,
        "losses": 7,
        "win_rate": 0.5,
        "net_pnl": 8.641962,  # 7 × (1.234567 − 0.000001)
        "gross_pnl": 8.662976,
        "fees": 0.021014,
    }
    assert table["c"]["win_rate"] == 1.0


def test_sums_are_exact_where_floats_would_drift() -> None:
    trades = [trade(i, "a", 100_000) for i in range(10)]  # ten times 0.10
    s = summarize(trades, [], starting_balance=START)
    assert sum(0.1 for _ in range(10)) != 1.0
    assert s["net_pnl"] == 1.0
    assert s["final_equity"] == 1001.0  # no equity points: start + net
    assert s["avg_trade_pnl"] == 0.1


def test_win_rate_and_averages_round_to_six_decimals() -> None:
    trades = [trade(1, "a", 1), trade(2, "a", -1), trade(3, "a", 1)]
    s = summarize(trades, [], starting_balance=START)
    assert s["win_rate"] == 0.666667
    assert s["avg_trade_pnl"] == 0.0  # 1/3 micro rounds to zero
    assert s["net_pnl"] == 0.000001


def test_zero_trades() -> None:
    s = summarize([], curve(START, START), starting_balance=START)
    assert s["trades"] == s["wins"] == s["losses"] == 0
    assert s["win_rate"] is None
    assert s["avg_trade_pnl"] is None
    assert s["best_trade"] is None
    assert s["worst_trade"] is None
    assert s["net_pnl"] == 0.0
    assert s["max_drawdown"] == 0.0
    assert s["max_drawdown_pct"] == 0.0
    assert s["return_pct"] == 0.0
    assert s["per_strategy"] == {}
    assert s["slippage"] == {"trades": 0, "sum": 0.0, "mean": None, "adverse": 0.0}
    empty = summarize([], [], starting_balance=START)
    assert empty["final_equity"] == 1000.0
    assert empty["start_ms"] is None


def test_max_drawdown_pct_can_come_from_a_different_fall_than_the_largest_amount() -> None:
    # 100 -> 50 is -50 % ($50); 1000 -> 800 is -20 % but $200
    eq = curve(100 * ONE, 50 * ONE, 1000 * ONE, 800 * ONE)
    s = summarize([], eq, starting_balance=100 * ONE)
    assert s["max_drawdown"] == 200.0
    assert s["max_drawdown_pct"] == 50.0


def test_drawdown_counts_a_first_point_below_the_starting_balance() -> None:
    s = summarize([], curve(990 * ONE, 995 * ONE), starting_balance=START)
    assert s["max_drawdown"] == 10.0
    assert s["max_drawdown_pct"] == 1.0


def test_exposure_is_time_weighted() -> None:
    samples = [(0, 10 * ONE), (1000, 30 * ONE), (3000, 0)]
    s = summarize([], [], starting_balance=START, exposure_samples=samples)
    assert s["exposure"] == {"samples": 3, "max": 30.0, "mean": 23.333333}
    one_instant = summarize([], [], starting_balance=START, exposure_samples=[(5, ONE), (5, 0)])
    assert one_instant["exposure"] == {"samples": 2, "max": 1.0, "mean": 0.5}
    none = summarize([], [], starting_balance=START, exposure_samples=[])
    assert none["exposure"] == {"samples": 0, "max": None, "mean": None}


def test_slippage_uses_known_intended_exits_only() -> None:
    trades = [
        trade(1, "a", 0, shares=10 * ONE, exit_price=480_000, intended=500_000),  # 0.02 × 10
        trade(2, "a", 0, shares=5 * ONE, exit_price=310_000, intended=300_000),  # 0.01 × 5
        trade(3, "a", 0, shares=7 * ONE, exit_price=1_000_000, intended=None),
    ]
    s = summarize(trades, [], starting_balance=START)
    assert s["slippage"] == {"trades": 2, "sum": 0.25, "mean": 0.125, "adverse": 0.15}


def test_summary_is_json_ready() -> None:
    trades = [trade(1, "a", 1_500_000, intended=490_000), trade(2, "b", -250_000)]
    s = summarize(
        trades,
        curve(START, START + 1_250_000),
        starting_balance=START,
        exposure_samples=[(0, ONE), (10, 0)],
    )
    assert orjson.loads(orjson.dumps(s)) == s


@pytest.mark.parametrize("start", [0, -5])
def test_return_pct_is_none_without_a_positive_starting_balance(start: int) -> None:
    assert summarize([], [], starting_balance=start)["return_pct"] is None
