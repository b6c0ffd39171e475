"""The roller (bot/markets/roller.py) and the rolling feed (bot/feeds/rolling.py) in-process,
against the local Gamma and CLOB servers on 127.0.0.1, on a market clock the test steps."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.feeds.polymarket import PolymarketFeed
from bot.feeds.rolling import RollingFeed
from bot.markets.client import GammaClient
from bot.markets.discovery import Discovery
from bot.markets.roller import Admitted, Notice, Roller, clob_check
from bot.model import BookTick, MarketEvent, Outcome, WindowOpened, WindowResolved
from bot.testing.clob_server import ClobServer
from bot.testing.gamma_server import GammaServer
from bot.venues.polymarket import PolymarketCredentials, PolymarketVenue

T0 = 1_790_000_100  # a 5-minute boundary
SERIES = "btc-updown-5m"


@dataclass
class Rig:
    clock: list[int]
    gamma: GammaServer
    clob: ClobServer
    roller: Roller
    feed: RollingFeed

    def slug(self, n: int) -> str:
        return f"{SERIES}-{T0 + 300 * n}"

    def condition(self, n: int) -> str:
        return self.gamma.condition_id(self.slug(n))

    def at(self, seconds: float) -> list[MarketEvent]:
        """Step the market clock to T0 + `seconds`, look once, take one feed batch."""
        self.clock[0] = round((T0 + seconds) * 1000)
        self.roller.turn()
        return self.feed.next_batch()

    def notices(self, news: list[Admitted | Notice]) -> list[str]:
        return [n.text for n in news if isinstance(n, Notice)]


@pytest.fixture
def rig() -> Iterator[Rig]:
    clock = [T0 * 1000 + 30_000]
    gamma = GammaServer(series=[SERIES], clock=lambda: clock[0] / 1000, resolve_after_s=10).start()
    clob = ClobServer().start()
    for n in range(6):
        up, down = gamma.token_ids(f"{SERIES}-{T0 + 300 * n}")
        clob.add_market(gamma.condition_id(f"{SERIES}-{T0 + 300 * n}"), (up, down), fee_rate=0.07, tick=0.001)
        clob.set_book(up, bids=[(0.48, 100)], asks=[(0.52, 100)])
    reader = PolymarketVenue(clob.url, credentials=PolymarketCredentials("0x" + secrets.token_hex(32)))
    discovery = Discovery(GammaClient(gamma.url, timeout_s=2), [SERIES], resolve_poll_ms=1)
    roller = Roller(discovery, lambda: clock[0], check=clob_check(reader), gamma_host=gamma.url)
    inner = PolymarketFeed(reader, [], 0.05, clock=lambda: clock[0])
    yield Rig(clock, gamma, clob, roller, RollingFeed(inner, roller, lambda: clock[0]))
    gamma.stop()
    clob.stop()
    reader.close()


def test_a_window_is_subscribed_ahead_opened_at_its_start_resolved_and_dropped(rig: Rig) -> None:
    assert rig.at(30) == []  # the open window was seen too late; the next is admitted
    news = rig.roller.engine_news()
    admitted = [a for a in news if isinstance(a, Admitted)]
    assert [a.key for a in admitted] == [rig.slug(1)]
    assert admitted[0].lead_ms == 270_000
    assert admitted[0].info is not None
    assert admitted[0].market.tick == 1_000, "the CLOB's tick, not Gamma's"
    assert any(f"{rig.slug(0)} skipped: first seen less than 60 s" in t for t in rig.notices(news))
    assert rig.condition(1) not in [m.market_id for m in rig.feed.markets], "not subscribed yet"
    assert rig.at(200) == []  # subscribed 100 s before it opens: the book is read, not shown
    assert rig.condition(1) in [m.market_id for m in rig.feed.markets]
    assert list(rig.feed.leads_ms) == [100_000]
    assert any("book subscribed 100 s before it opens" in t for t in rig.notices(rig.roller.engine_news()))
    rig.roller.turn()  # status.json's block is rebuilt at each look
    assert [w["subscribed"] is not None for w in rig.roller.status()["windows"]] == [False, True]
    opened = rig.at(300)
    assert isinstance(opened[0], WindowOpened)
    assert opened[0].market.market_id == rig.condition(1)
    assert isinstance(opened[1], BookTick)
    assert opened[1].market_id == rig.condition(1)
    rig.gamma.set_winner(rig.slug(1), "Down")
    rig.at(600)  # ended: awaiting resolution (10 s after the end)
    resolved = [e for e in rig.at(611) if isinstance(e, WindowResolved)]
    assert [(e.market_id, e.outcome) for e in resolved] == [(rig.condition(1), Outcome.DOWN)]
    assert rig.condition(1) not in [m.market_id for m in rig.feed.markets], "dropped"
    assert any("resolved DOWN on Gamma: dropped" in t for t in rig.notices(rig.roller.engine_news()))
    assert rig.roller.status()["resolved"] == 1


def test_gamma_down_at_start_then_up(rig: Rig) -> None:
    rig.gamma.fail_next("/events", status=500, count=2)
    rig.at(10)
    rig.at(20)
    news = rig.notices(rig.roller.engine_news())
    assert len([t for t in news if "failing" in t]) == 1, news
    status = rig.roller.status()
    assert status["failing_since"] is not None
    assert status["errors"]
    assert status["last_ok"] is None
    assert all(w["status"] == "UNCHECKED" for w in status["windows"])
    rig.at(30)
    news = rig.notices(rig.roller.engine_news())
    assert any("Gamma answers again after 20 s" in t for t in news), news
    assert rig.roller.status()["failing_since"] is None
    assert list(rig.roller.admitted) == [rig.slug(1)]


def test_other_rules_and_a_missing_clob_market_are_skipped_once_with_the_reason(rig: Rig) -> None:
    rig.gamma.fault(rig.slug(1), "binance")
    rig.at(30)
    rig.at(40)
    news = rig.notices(rig.roller.engine_news())
    skipped = [t for t in news if t.startswith(f"{rig.slug(1)} skipped")]
    assert len(skipped) == 1, news
    assert "rules differ" in skipped[0], news
    assert rig.slug(1) not in rig.roller.admitted
    rig.at(300 * 6)  # window 7 is on Gamma, not on the CLOB
    news = rig.notices(rig.roller.engine_news())
    assert any(f"{rig.slug(7)} skipped: the CLOB check failed" in t for t in news), news


def test_a_split_resolves_the_window_fifty_fifty_and_drops_it(rig: Rig) -> None:
    rig.gamma.set_winner(rig.slug(1), "Split")
    rig.at(30)
    rig.at(300)
    events = rig.at(611)
    resolved = [e for e in events if isinstance(e, WindowResolved)]
    assert [(e.market_id, e.outcome) for e in resolved] == [(rig.condition(1), None)]
    assert rig.condition(1) not in [m.market_id for m in rig.feed.markets]
    assert any("resolved 50/50 (split)" in t for t in rig.notices(rig.roller.engine_news()))


def test_a_market_named_by_slug_is_traded_while_open_beside_the_series(rig: Rig) -> None:
    """An explicit slug needs no lead: it is checked and subscribed at once, open or not."""
    rig.gamma.add_series("eth-updown-5m")
    explicit = f"eth-updown-5m-{T0}"  # open now: a series window like it would be skipped
    up, down = rig.gamma.token_ids(explicit)
    rig.clob.add_market(rig.gamma.condition_id(explicit), (up, down), fee_rate=0.07)
    discovery = Discovery(GammaClient(rig.gamma.url, timeout_s=2), [SERIES], [explicit], resolve_poll_ms=1)
    reader = PolymarketVenue(rig.clob.url, credentials=PolymarketCredentials("0x" + secrets.token_hex(32)))
    roller = Roller(discovery, lambda: rig.clock[0], check=clob_check(reader), gamma_host=rig.gamma.url)
    feed = RollingFeed(
        PolymarketFeed(reader, [], 0.05, clock=lambda: rig.clock[0]), roller, lambda: rig.clock[0]
    )
    roller.turn()
    events = feed.next_batch()
    assert sorted(roller.admitted) == [rig.slug(1), explicit]
    opened = [e.market.market_id for e in events if isinstance(e, WindowOpened)]
    assert opened == [rig.gamma.condition_id(explicit)]
    assert roller.status()["markets"] == [explicit]
    reader.close()


def test_a_resolution_gamma_cannot_give_is_said_once_and_booked_when_it_can(rig: Rig) -> None:
    rig.gamma.set_winner(rig.slug(1), "Unreadable")  # closed, "resolved", prices 0.6 and 0.6
    rig.at(30)
    rig.at(300)
    events = rig.at(611)
    events += rig.at(620)
    assert not [e for e in events if isinstance(e, WindowResolved)]
    news = rig.notices(rig.roller.engine_news())
    said = [t for t in news if "do not sum to 1" in t]
    assert len(said) == 1, news
    assert "0.6/0.6" in said[0]
    assert "position is kept" in said[0]
    rig.gamma.set_winner(rig.slug(1), "Down")  # Gamma corrects itself
    events = rig.at(640)
    resolved = [e for e in events if isinstance(e, WindowResolved)]
    assert [(e.market_id, e.outcome) for e in resolved] == [(rig.condition(1), Outcome.DOWN)]


def test_a_late_resolution_keeps_the_window_until_gamma_publishes_it_then_resolves_once(rig: Rig) -> None:
    rig.gamma.resolve_late(rig.slug(1), 240)  # published 250 s after the end instead of 10 s
    rig.gamma.set_winner(rig.slug(1), "Up")
    events: list[MarketEvent] = []
    for t in range(30, 1200, 5):
        events += rig.at(t)
        if t < 850:  # not yet published: still followed, never resolved by a guess
            assert rig.condition(1) in [m.market_id for m in rig.feed.markets] or t < 180, t
            assert not [
                e for e in events if isinstance(e, WindowResolved) and e.market_id == rig.condition(1)
            ], t
    resolved = [e for e in events if isinstance(e, WindowResolved) and e.market_id == rig.condition(1)]
    assert [(e.outcome, e.ts_ms // 1000 - T0 >= 850) for e in resolved] == [(Outcome.UP, True)]
    assert rig.condition(1) not in [m.market_id for m in rig.feed.markets], "dropped once resolved"


def test_a_minute_stale_gamma_neither_misses_nor_doubles_a_window(rig: Rig) -> None:
    """Gamma answers from a snapshot 60 s old, off and on (a resolved window reads unresolved
    again): every window is admitted, subscribed, opened and resolved exactly once."""
    events: list[MarketEvent] = []
    news: list[Admitted | Notice] = []
    for t in range(30, 1800, 5):
        rig.gamma.cache_age(60 if (t // 40) % 2 else 0)
        events += rig.at(t)
        news += rig.roller.engine_news()
    windows = [rig.condition(n) for n in (1, 2, 3, 4)]  # open and ended within the run
    admitted = [a.market.market_id for a in news if isinstance(a, Admitted)]
    opened = [e.market.market_id for e in events if isinstance(e, WindowOpened)]
    resolved = [e.market_id for e in events if isinstance(e, WindowResolved)]
    for cond in windows:
        assert admitted.count(cond) == 1, (cond, admitted)
        assert opened.count(cond) == 1, (cond, opened)
        assert resolved.count(cond) == 1, (cond, resolved)
    assert len(admitted) == len(set(admitted))
    assert len(resolved) == len(set(resolved))
    assert min(rig.feed.leads_ms) >= 60_000
    assert len(rig.feed.leads_ms) == len(set(admitted)), "each window subscribed once"


@pytest.mark.parametrize(("fault", "words"), [("malformed", "clobTokenIds"), ("no_tokens", "clobTokenIds")])
def test_a_malformed_row_or_one_without_token_ids_is_skipped_once_never_guessed(
    rig: Rig, fault: str, words: str
) -> None:
    rig.gamma.fault(rig.slug(1), fault)
    news: list[Admitted | Notice] = []
    events: list[MarketEvent] = []
    for t in range(30, 700, 10):
        events += rig.at(t)
        news += rig.roller.engine_news()
    skipped = [t for t in rig.notices(news) if t.startswith(f"{rig.slug(1)} skipped")]
    assert len(skipped) == 1, rig.notices(news)
    assert words in skipped[0], skipped
    assert "\n" not in skipped[0]
    assert rig.condition(1) not in [a.market.market_id for a in news if isinstance(a, Admitted)]
    assert rig.condition(1) not in [e.market_id for e in events if isinstance(e, BookTick)], (
        "no entry, no book"
    )
    assert rig.condition(2) in [a.market.market_id for a in news if isinstance(a, Admitted)], (
        "the next one is"
    )


def test_a_held_window_gamma_does_not_list_is_said_once_and_looked_for_less_often(rig: Rig) -> None:
    held = rig.slug(-10)  # a window the journal holds from before a restart, long ended
    condition = rig.condition(-10)
    rig.gamma.fault(held, "hidden")
    rig.roller.adopt([condition], [T0 - 3000])

    def looks() -> int:
        return sum(1 for r in rig.gamma.requests if held in r)

    rig.at(30)
    news = rig.roller.engine_news()
    [said] = [n for n in news if isinstance(n, Notice) and "not listed on Gamma" in n.text]
    assert said.market == condition
    assert said.error
    assert said.text.startswith(f"{held}: the window held at the restart ({condition})")
    assert "its position is kept for reconciliation" in said.text
    first = looks()
    assert first >= 1
    for s in range(31, 80, 7):  # within the back-off: not looked for, not said again
        rig.at(s)
    assert looks() == first
    assert not [n for n in rig.notices(rig.roller.engine_news()) if "not listed" in n]
    rig.at(30 + 61)  # the back-off has passed: looked for once more, still silent
    assert looks() == first + 1
    assert not [n for n in rig.notices(rig.roller.engine_news()) if "not listed" in n]
    rig.at(30 + 61 + 60)  # the next back-off is twice as long
    assert looks() == first + 1
    rig.gamma.clear_faults(held)  # Gamma lists it again: taken back at the next look for it
    rig.at(30 + 61 + 121)
    news = rig.notices(rig.roller.engine_news())
    assert any(t.startswith(f"{held} taken back after the restart") for t in news), news
