"""bot.feeds.simulated.SimulatedMarket: determinism, valid books, aligned windows, resolution, snapshots."""

from __future__ import annotations

import dataclasses
import itertools

import orjson
import pytest

from bot.config import MarketConfig
from bot.feeds.simulated import SimulatedMarket, fingerprint
from bot.model import ONE, BookTick, MarketEvent, Outcome, WindowOpened, WindowResolved

START = 1_767_225_600_000 + 123_456  # 2026-01-01, not on a window boundary
FAST = MarketConfig(window_s=60, tick_s=1.0)  # 60 samples per window


def run(sim: SimulatedMarket, batches: int) -> list[MarketEvent]:
    events: list[MarketEvent] = []
    for _ in range(batches):
        events.extend(sim.next_batch())
    return events


def test_same_seed_gives_the_identical_event_stream() -> None:
    a = run(SimulatedMarket(FAST, START), 400)
    b = run(SimulatedMarket(FAST, START), 400)
    assert a == b
    assert len(a) > 1_200


def test_a_different_seed_gives_a_different_stream() -> None:
    a = run(SimulatedMarket(FAST, START), 100)
    b = run(SimulatedMarket(dataclasses.replace(FAST, seed=FAST.seed + 1), START), 100)
    assert a != b
    a_ticks = [e for e in a if isinstance(e, BookTick)]
    b_ticks = [e for e in b if isinstance(e, BookTick)]
    assert [t.underlying for t in a_ticks] != [t.underlying for t in b_ticks]


def test_instruments_have_independent_streams() -> None:
    # the BTC stream does not depend on which other instruments are simulated
    both = MarketConfig(window_s=60, instruments=("BTC", "ETH"), start_prices=(97_000.0, 3_100.0))
    alone = MarketConfig(window_s=60, instruments=("BTC",), start_prices=(97_000.0,))
    btc = [e for e in run(SimulatedMarket(both, START), 100) if isinstance(e, BookTick)]
    btc = [t for t in btc if t.market_id.startswith("BTC")]
    assert btc == [e for e in run(SimulatedMarket(alone, START), 100) if isinstance(e, BookTick)]


@pytest.mark.parametrize(
    "cfg",
    [
        FAST,
        MarketConfig(window_s=30, tick_s=0.5, volatility_per_s=0.003, spread=0.05, mispricing=0.2),
        MarketConfig(window_s=120, tick_s=2.0, tick=0.001, spread=0.0, min_size=1.0),
        MarketConfig(window_s=60, tick=0.05, spread=0.3, mispricing=0.5, volatility_per_s=0.01),
    ],
)
def test_every_book_tick_is_valid_and_on_the_tick_grid(cfg: MarketConfig) -> None:
    sim = SimulatedMarket(cfg, START)
    tick = round(cfg.tick * ONE)
    books = [e for e in run(sim, 600) if isinstance(e, BookTick)]
    assert books
    for b in books:
        assert tick <= b.bid < b.ask <= ONE - tick, b
        assert b.bid % tick == 0, b
        assert b.ask % tick == 0, b
        assert b.bid_size > 0, b
        assert b.ask_size > 0, b
        assert b.bid_size % 10_000 == 0, b
        assert b.ask_size % 10_000 == 0, b
        assert b.fair_forecast is not None
        assert 0 <= b.fair_forecast <= ONE
        assert b.underlying is not None
        assert b.underlying > 0


def test_a_tick_that_does_not_divide_one_is_refused_by_the_config() -> None:
    from bot.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"market\.tick: 0\.03 must divide 1"):
        load_config(None, {"market.tick": 0.03})
    cfg = load_config(None, {"market.tick": 0.001}).market
    books = [e for e in run(SimulatedMarket(cfg, START), 120) if isinstance(e, BookTick)]
    assert all(b.bid % 1_000 == 0 and b.ask % 1_000 == 0 for b in books)


@pytest.mark.parametrize(("window_s", "tick_s"), [(60, 1.0), (300, 7.0), (90, 0.25)])
def test_windows_are_aligned_to_window_s(window_s: int, tick_s: float) -> None:
    cfg = MarketConfig(window_s=window_s, tick_s=tick_s)
    sim = SimulatedMarket(cfg, START)
    events = run(sim, int(4 * window_s / tick_s))
    opened = [e.market for e in events if isinstance(e, WindowOpened)]
    assert len(opened) >= 3 * len(cfg.instruments)
    for m in opened:
        assert m.window_start_ms % (window_s * 1000) == 0
        assert m.window_end_ms - m.window_start_ms == window_s * 1000
    # the first window is the one that contains the start; later ones follow back to back
    btc = [m for m in opened if m.instrument == "BTC"]
    assert btc[0].window_start_ms <= START < btc[0].window_end_ms
    for earlier, later in itertools.pairwise(btc):
        assert later.window_start_ms == earlier.window_end_ms
    assert len({m.market_id for m in opened}) == len(opened)


def test_strike_is_the_price_at_window_open_and_books_belong_to_an_open_window() -> None:
    sim = SimulatedMarket(FAST, START)
    open_now: dict[str, str] = {}
    strikes: dict[str, float] = {}
    first_tick_checked: set[str] = set()
    for _ in range(300):
        for e in sim.next_batch():
            if isinstance(e, WindowOpened):
                assert e.market.instrument not in open_now
                open_now[e.market.instrument] = e.market.market_id
                assert e.market.strike is not None
                strikes[e.market.market_id] = e.market.strike
                assert e.ts_ms >= e.market.window_start_ms
            elif isinstance(e, BookTick):
                assert e.market_id in open_now.values()
                if e.market_id not in first_tick_checked:
                    # the first tick of a window is sampled at the same moment as its strike
                    assert e.underlying == round(strikes[e.market_id], 6)
                    first_tick_checked.add(e.market_id)
            else:
                assert isinstance(e, WindowResolved)
                inst = e.market_id.split("-")[0]
                assert open_now.pop(inst) == e.market_id
    assert len(strikes) >= 12


def test_resolution_is_up_iff_final_at_or_above_strike() -> None:
    sim = SimulatedMarket(FAST, START)
    markets: dict[str, float] = {}
    outcomes = set()
    for e in run(sim, 60 * 30):
        if isinstance(e, WindowOpened):
            assert e.market.strike is not None
            markets[e.market.market_id] = e.market.strike
        elif isinstance(e, WindowResolved):
            strike = markets[e.market_id]
            assert e.final_underlying is not None
            expected = Outcome.UP if e.final_underlying >= strike else Outcome.DOWN
            assert e.outcome is expected
            outcomes.add(e.outcome)
    assert outcomes == {Outcome.UP, Outcome.DOWN}


def test_resolution_happens_at_the_first_sample_at_or_after_window_end() -> None:
    sim = SimulatedMarket(MarketConfig(window_s=60, tick_s=7.0), START)
    ends: dict[str, int] = {}
    for e in run(sim, 60):
        if isinstance(e, WindowOpened):
            ends[e.market.market_id] = e.market.window_end_ms
        elif isinstance(e, WindowResolved):
            assert ends[e.market_id] <= e.ts_ms < ends[e.market_id] + 7_000


def test_a_tie_at_the_strike_resolves_up() -> None:
    # a volatility so small that exp(vol × √dt × z) == 1.0 exactly: the price never moves, so
    # every window ends exactly at its strike
    cfg = MarketConfig(window_s=60, volatility_per_s=1e-300)
    sim = SimulatedMarket(cfg, START)
    resolved = [e for e in run(sim, 200) if isinstance(e, WindowResolved)]
    assert len(resolved) >= 6
    for e in resolved:
        assert e.final_underlying in cfg.start_prices  # unchanged, i.e. equal to the strike
        assert e.outcome is Outcome.UP


def test_snapshot_restore_continues_the_identical_stream() -> None:
    original = SimulatedMarket(FAST, START)
    run(original, 137)  # mid-window, with open markets and a cached gauss value possibly pending
    snap = orjson.loads(orjson.dumps(original.snapshot()))  # as the app stores it
    restored = SimulatedMarket.restore(FAST, snap)
    assert restored is not None
    assert restored.peek_ms() == original.peek_ms()
    assert restored.open_markets() == original.open_markets()
    assert run(restored, 250) == run(original, 250)


def test_snapshot_at_start_and_restore_gives_the_same_stream_as_a_fresh_market() -> None:
    snap = SimulatedMarket(FAST, START).snapshot()
    restored = SimulatedMarket.restore(FAST, snap)
    assert restored is not None
    assert run(restored, 100) == run(SimulatedMarket(FAST, START), 100)


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 8},
        {"window_s": 120},
        {"spread": 0.03},
        {"instruments": ("BTC", "ETH", "XRP")},
        {"tick": 0.001},
    ],
)
def test_restore_returns_none_when_settings_change(change: dict[str, object]) -> None:
    sim = SimulatedMarket(FAST, START)
    run(sim, 10)
    changed = dataclasses.replace(FAST, **change)  # type: ignore[arg-type]
    assert fingerprint(changed) != fingerprint(FAST)
    assert SimulatedMarket.restore(changed, sim.snapshot()) is None


def test_restore_refuses_a_snapshot_without_fingerprint() -> None:
    snap = SimulatedMarket(FAST, START).snapshot()
    del snap["fingerprint"]
    assert SimulatedMarket.restore(FAST, snap) is None


def test_events_until_stops_at_the_bound() -> None:
    sim = SimulatedMarket(FAST, START)
    events = list(sim.events(START + 10_000))
    assert max(e.ts_ms for e in events) <= START + 10_000
    assert sim.peek_ms() > START + 10_000
