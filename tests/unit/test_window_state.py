"""The window a strategy sees: one per tick, read-only, each strategy with its own entries;
and the baselines beside a backtest, in processes or one after the other, the same files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot import backtest
from bot.config import load_config
from bot.model import ONE, BookTick, Market, Outcome
from bot.strategies import WindowState
from tests.research_data import write_research_data

NOW = 1_800_000_060_000
MARKET = Market(
    market_id="BTC-1",
    instrument="BTC",
    name="BTC up or down",
    window_start_ms=NOW - 60_000,
    window_end_ms=NOW + 240_000,
    strike=97_000.0,
    tick=10_000,
    min_size=5 * ONE,
)
BOOK = BookTick(NOW, "BTC-1", 490_000, 100 * ONE, 500_000, 100 * ONE)


def test_a_strategy_cannot_change_what_the_next_one_sees() -> None:
    window = WindowState(MARKET, BOOK, NOW, {}, 0, 0, 240.0)
    with pytest.raises(AttributeError, match="read-only"):
        window.book = BookTick(NOW, "BTC-1", 10_000, ONE, 990_000, ONE)  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        del window.seconds_left
    assert window.for_strategy(2).entries == 2
    assert window.for_strategy(0).entries == 0
    assert window.book is BOOK
    assert window.seconds_left == 240.0


def test_a_window_built_by_hand_is_read_only_and_so_is_what_it_holds() -> None:
    held = {Outcome.UP: 5 * ONE}
    window = WindowState(MARKET, BOOK, NOW, held, 1, 1, 240.0)
    assert window.holding == {Outcome.UP: 5 * ONE}
    assert window.forecasts == ()
    with pytest.raises(TypeError):
        window.holding[Outcome.DOWN] = ONE  # type: ignore[index]
    with pytest.raises(AttributeError, match="read-only"):
        window.entries = 0  # type: ignore[misc]
    held[Outcome.UP] = 0  # the caller's dict was copied
    assert window.holding[Outcome.UP] == 5 * ONE
    assert "entries=1" in repr(window)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.name != "timing.json" and not f.name.startswith("bot.db")
    }


def test_baselines_in_processes_write_the_same_files_as_one_after_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    books, _ = write_research_data(tmp_path, windows=3)
    config = load_config(None, {})
    monkeypatch.setattr(backtest, "_spare_workers", lambda: 0)
    backtest.run_backtest(books, config, tmp_path / "serial", baselines=True)
    monkeypatch.setattr(backtest, "_spare_workers", lambda: 2)
    forked = backtest.run_backtest(books, config, tmp_path / "forked", baselines=True)
    assert set(forked.summary["baselines"]) == {"favourite", "hold_up", "hold_down"}
    serial, parallel = _digests(tmp_path / "serial"), _digests(tmp_path / "forked")
    assert any(name.startswith("baselines/hold_up/") for name in parallel)
    assert serial == parallel


class LateWatcher:
    """Records the seconds left at each tick it is asked; says it acts only in the last 30 s."""

    name = "late_watcher"
    acts_within_s = 30.0
    seen: ClassVar[list[float]] = []

    def evaluate(self, window: WindowState) -> None:
        LateWatcher.seen.append(window.seconds_left)


class EveryTick(LateWatcher):
    name = "every_tick"
    acts_within_s = float("inf")


def test_a_strategy_is_not_asked_before_its_acts_within_s_and_canary_trades_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    books, _ = write_research_data(tmp_path, windows=3)
    here = f"{__name__}:"
    LateWatcher.seen = []
    config = load_config(None, {"strategies.enabled": [here + "EveryTick"]})
    backtest.run_backtest(books, config, tmp_path / "all")
    every = list(LateWatcher.seen)
    LateWatcher.seen = []
    config = load_config(None, {"strategies.enabled": [here + "LateWatcher"]})
    backtest.run_backtest(books, config, tmp_path / "late")
    assert LateWatcher.seen == [s for s in every if s <= 30.0]  # the same ticks, in order, none earlier
    assert 0 < len(LateWatcher.seen) < len(every)
    # canary says it acts within its seconds_before_end: asked only then, the same files as
    # when asked at every tick
    config = load_config(None, {"strategies.enabled": ["canary"]})
    assert backtest.run_backtest(books, config, tmp_path / "canary").summary["trades"] > 0
    build = backtest.build_strategies

    def always(*args: Any) -> list[Any]:
        strategies = build(*args)
        assert strategies[0].acts_within_s == 60.0  # type: ignore[attr-defined]
        strategies[0].acts_within_s = float("inf")  # type: ignore[attr-defined]
        return strategies

    monkeypatch.setattr(backtest, "build_strategies", always)
    backtest.run_backtest(books, config, tmp_path / "canary_always")
    asked = _digests(tmp_path / "canary")
    assert any(name == "trades.csv" for name in asked)
    assert asked == _digests(tmp_path / "canary_always")


def test_the_hold_baselines_propose_what_buying_at_the_ask_proposes() -> None:
    """`hold_up`/`hold_down` build their signal inline (asked on every tick while a limit
    refuses): the same signal as the shared `_buy`, and nothing once entered or ended."""
    from bot.strategies.baselines import HoldDown, HoldUp, _buy

    window = WindowState(MARKET, BOOK, NOW, {}, 0, 0, 240.0)
    for strategy, side in ((HoldUp(HoldUp.Params(ttl_s=7)), Outcome.UP), (HoldDown(), Outcome.DOWN)):
        expected = _buy(
            window, strategy.name, side, f"hold {side.value} from the open", strategy.params.ttl_s
        )
        assert strategy.evaluate(window) == expected
        assert strategy.evaluate(window.for_strategy(1)) is None
        window.for_strategy(0)
    assert HoldUp().evaluate(WindowState(MARKET, BOOK, NOW, {}, 0, 0, 0.0)) is None


def test_a_custom_strategy_building_its_signal_with_keywords_trades_in_a_backtest(tmp_path: Path) -> None:
    """A strategy of one's own (`module:Class`, as the README says) builds `Signal(...)` with
    keywords: it trades, and its reason reaches signals.jsonl."""
    books, _ = write_research_data(tmp_path, windows=3)
    config = load_config(None, {"strategies.enabled": ["tests.live_strategies:BuyOnce"]})
    result = backtest.run_backtest(books, config, tmp_path / "custom")
    assert result.summary["trades"] > 0
    signals = [json.loads(line) for line in next((tmp_path / "custom").rglob("signals.jsonl")).open()]
    entered = [s for s in signals if s["executed"]]
    assert entered
    assert {(s["strategy"], s["reason"], s["outcome"]) for s in entered} == {
        ("buy_once", "test entry at the ask", "UP")
    }
