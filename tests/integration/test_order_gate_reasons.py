"""Why the order gate refuses an entry when there is no book to judge it by, in one line an
operator understands: the market was dropped by the rolling feed (resolved, the engine not
told yet), its book was never read, its book is old (feed down), the market has resolved, or
the bot never saw it. The reason is what signals.jsonl, the activity feed and inbox answers
show; a dropped market is not a stale feed (no FEED_STALE alert)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bot.activity import Activity
from bot.config import RiskConfig
from bot.journal import Journal
from bot.model import ONE, Action, Market, Mode, Outcome, Signal, WindowOpened
from bot.notify import STALE_LIMIT
from bot.orders import Execution, OrderManager
from bot.portfolio import Portfolio
from bot.risk import RiskGate
from bot.runtime import CurrentLimits, Limits
from bot.venues.paper import PaperVenue
from tests.integration.test_roller import Rig, rig  # noqa: F401  (the rolling feed on local servers)

T0 = 1_800_000_000_000
STALE_MS = 10_000


class Gate:
    """An order manager on a real journal, its book ages told by `age` (as bot/wiring.py
    measures them) and its dropped markets by `dropped` (the rolling feed's)."""

    def __init__(
        self,
        folder: Path,
        markets: list[Market],
        age: Callable[[str, int], int | None],
        dropped: Callable[[str], str | None] | None = None,
    ) -> None:
        self.journal = Journal(folder / "bot.db")
        self.journal.start_session(Mode.PAPER, "test", 1, {}, T0)
        self.logs = folder / "logs"
        self.logs.mkdir()
        self.activity = Activity(self.journal, self.logs)
        portfolio = Portfolio(self.journal, Mode.PAPER)
        portfolio.deposit(100 * ONE, T0, "test")
        venue = PaperVenue(cash=100 * ONE)
        limits = Limits(10 * ONE, 20 * ONE, 10 * ONE, 20 * ONE, ("BTC",), ("canary",), Mode.PAPER)
        self.orders = OrderManager(
            venue=venue,
            journal=self.journal,
            portfolio=portfolio,
            activity=self.activity,
            risk=RiskGate(RiskConfig(), CurrentLimits(limits)),
            markets={m.market_id: m for m in markets},
            controls_dir=None,
            on_settled=lambda s, p: None,
            feed_age_ms=age,
            feed_dropped=dropped,
            stale_feed_ms=STALE_MS,
        )
        for m in markets:
            self.journal.market_opened(m)
            venue.on_market(WindowOpened(T0, m))

    def enter(self, market_id: str, now: int = T0) -> Execution:
        signal = Signal(now, "canary", market_id, Outcome.UP, Action.BUY, 500_000, size=5 * ONE)
        return self.orders.execute(signal, Mode.PAPER)

    def written(self, name: str) -> list[dict[str, Any]]:
        """logs/NAME.jsonl as an operator reads it, after the step's commit."""
        self.journal.commit()
        self.activity.flush()
        return [orjson.loads(line) for line in (self.logs / f"{name}.jsonl").read_bytes().splitlines()]

    def rejected(self) -> list[dict[str, Any]]:
        return [e for e in self.written("activity") if e["type"] == "RISK_REJECTED"]

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def market() -> Market:
    return Market("M1", "BTC", "BTC up at 12:05?", T0, T0 + 300_000, 100.0)


@pytest.fixture
def gate_for(tmp_path: Path, market: Market) -> Iterator[Callable[..., Gate]]:
    made: list[Gate] = []

    def make(
        age: Callable[[str, int], int | None], dropped: Callable[[str], str | None] | None = None
    ) -> Gate:
        folder = tmp_path / f"gate-{len(made)}"
        folder.mkdir()
        made.append(Gate(folder, [market], age, dropped))
        return made[-1]

    yield make
    for g in made:
        g.close()


def test_a_market_the_rolling_feed_dropped_is_no_longer_followed_not_stale(
    rig: Rig,  # noqa: F811
    tmp_path: Path,
) -> None:
    rig.at(30)
    rig.at(300)  # window 1 open: its book is read
    window = next(m for m in rig.feed.markets if m.market_id == rig.condition(1))

    def age(market_id: str, now: int) -> int | None:
        last = rig.feed.last_update_ms(market_id)
        return None if last is None else rig.clock[0] - last

    gate = Gate(tmp_path, [window], age, rig.feed.dropped)
    try:
        assert rig.feed.dropped(window.market_id) is None  # followed
        rig.gamma.set_winner(rig.slug(1), "Down")
        rig.at(600)
        rig.at(611)  # resolved on Gamma: the feed drops the book; the engine is not told yet
        result = gate.enter(window.market_id, rig.clock[0])
        assert not result.executed
        assert result.reason.startswith("market no longer followed: resolved DOWN on Gamma, dropped at ")
        assert "never" not in result.reason
        assert "stale" not in result.reason
        [line] = gate.rejected()
        assert line["limit"] != STALE_LIMIT  # not a FEED_STALE alert
        assert "canary BUY UP: market no longer followed: resolved DOWN on Gamma" in line["details"]
        [signal] = gate.written("signals")
        assert signal["skip_reason"] == result.reason
    finally:
        gate.close()


def test_a_book_never_read_says_so(gate_for: Callable[..., Gate]) -> None:
    gate = gate_for(lambda m, now: None)
    result = gate.enter("M1")
    assert result.reason == f"no book read yet for this market [{STALE_LIMIT}]"


def test_an_old_book_is_stale_with_its_age_and_the_limit(gate_for: Callable[..., Gate]) -> None:
    gate = gate_for(lambda m, now: STALE_MS + 2_500)  # the feed is down: the book ages
    result = gate.enter("M1")
    assert result.reason == f"market data is stale (last book 12.5 s ago, limit 10 s) [{STALE_LIMIT}]"
    [line] = gate.rejected()
    assert line["limit"] == STALE_LIMIT  # a stale feed is alerted (FEED_STALE)


def test_a_book_that_goes_on_ageing_is_one_refusal_in_the_records_not_one_per_tick(
    gate_for: Callable[..., Gate],
) -> None:
    """Every answer says the age now; the records (signals.jsonl, RISK_REJECTED) say it once,
    until the refusal changes (here: the book is lost, then read again and stale)."""
    ages = iter([12_500, 13_500, 14_500, None, 11_000])
    gate = gate_for(lambda m, now: next(ages))
    answers = [gate.enter("M1", T0 + i * 1_000).reason for i in range(3)]
    assert answers == [
        f"market data is stale (last book {s} s ago, limit 10 s) [{STALE_LIMIT}]"
        for s in ("12.5", "13.5", "14.5")
    ]
    assert len(gate.rejected()) == 1
    assert [s["skip_reason"] for s in gate.written("signals")] == answers[:1]
    gate.enter("M1", T0 + 3_000)  # no book any more: another refusal
    gate.enter("M1", T0 + 4_000)  # stale again: a new refusal after the other one
    assert [r["details"].split(": ", 1)[1] for r in gate.rejected()] == [
        "market data is stale (last book 12.5 s ago, limit 10 s)",
        "no book read yet for this market",
        "market data is stale (last book 11.0 s ago, limit 10 s)",
    ]


def test_a_refusal_that_comes_back_after_an_entry_is_recorded_again(gate_for: Callable[..., Gate]) -> None:
    """Stale, then fresh (the entry is placed), then stale again as before: the records say
    the refusal twice, with the entry between them."""
    ages = iter([12_500, 1_000, 12_500])
    gate = gate_for(lambda m, now: next(ages), lambda m: None)
    results = [gate.enter("M1", T0 + i * 1_000) for i in range(3)]
    assert [r.executed for r in results] == [False, True, False]
    stale = f"market data is stale (last book 12.5 s ago, limit 10 s) [{STALE_LIMIT}]"
    assert [(s["executed"], s["skip_reason"]) for s in gate.written("signals")] == [
        (False, stale),
        (True, ""),
        (False, stale),
    ]
    assert len(gate.rejected()) == 2


def test_a_fresh_book_passes_the_gate(gate_for: Callable[..., Gate]) -> None:
    gate = gate_for(lambda m, now: 1_000, lambda m: None)
    assert gate.enter("M1").executed


def test_a_resolved_market_says_it_resolved_and_a_never_seen_one_that_it_was_never_open(
    gate_for: Callable[..., Gate],
) -> None:
    gate = gate_for(lambda m, now: 1_000)
    gate.journal.market_resolved("M1", Outcome.UP, T0 + 300_000)
    del gate.orders.markets["M1"]  # as the engine does when the resolution reaches it
    assert gate.enter("M1").reason == "market M1 has resolved (UP): no more orders [market]"
    assert gate.enter("M9").reason == "unknown market M9: this bot has not seen it open [market]"
