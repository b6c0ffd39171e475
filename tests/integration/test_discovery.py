"""Discovery against the local Gamma server on 127.0.0.1, on the server's frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.markets.client import GammaClient
from bot.markets.discovery import DiscoveredMarket, Discovery, Status
from bot.markets.rules import GENERIC
from bot.markets.series import DiscoveryError
from bot.model import Outcome
from bot.testing.gamma_server import GammaServer

T0 = 1_790_000_100  # a 15-minute boundary, so a 5-minute one too
MS = 1000


@pytest.fixture
def gamma() -> Iterator[GammaServer]:
    with GammaServer(series=["btc-updown-5m", "eth-updown-15m"], resolve_after_s=60) as server:
        server.freeze(T0 + 30)
        yield server


def make(gamma: GammaServer, *series: str, timeout_s: float = 5.0, **kwargs: object) -> Discovery:
    return Discovery(GammaClient(gamma.url, timeout_s=timeout_s), series, **kwargs)


def by_key(rows: list[DiscoveredMarket]) -> dict[str, DiscoveredMarket]:
    return {r.key: r for r in rows}


def now(gamma: GammaServer) -> int:
    return int(gamma.now() * MS)


def test_open_and_next_windows_come_in_one_batched_request(gamma: GammaServer) -> None:
    d = make(gamma, "btc-updown-5m", "eth-updown-15m")
    rows = d.upcoming(now(gamma), 300_000)
    assert [(r.key, r.status) for r in rows] == [
        (f"btc-updown-5m-{T0}", Status.OPEN),
        (f"eth-updown-15m-{T0}", Status.OPEN),
        (f"btc-updown-5m-{T0 + 300}", Status.NEXT),
    ]
    assert len(gamma.requests) == 1
    assert gamma.requests[0].count("slug=") == 3
    current = rows[0]
    assert current.gamma is not None
    assert current.market is not None
    assert (current.gamma.up_token, current.gamma.down_token) == gamma.token_ids(current.key)
    assert current.market.market_id == gamma.condition_id(current.key)
    assert current.market.instrument == "BTC"
    assert current.market.window_end_ms == (T0 + 300) * MS
    assert current.market.tick == 10_000
    assert current.market.min_size == 5_000_000
    assert current.market.fee_rate_ppm == 70_000
    assert not current.gamma.neg_risk


def test_repeated_calls_use_the_cache_until_the_refresh_is_due(gamma: GammaServer) -> None:
    d = make(gamma, "btc-updown-5m", refresh_ms=60_000)
    first = d.upcoming(now(gamma), 0)
    gamma.freeze(T0 + 60)
    again = d.upcoming(now(gamma), 0)
    assert [r.key for r in again] == [r.key for r in first]
    assert len(gamma.requests) == 1
    gamma.freeze(T0 + 91)
    d.upcoming(now(gamma), 0)
    assert len(gamma.requests) == 2
    # a NEXT window turns OPEN at its start without a new request
    gamma.freeze(T0 + 250)
    rows = by_key(d.upcoming(now(gamma), 0))
    assert rows[f"btc-updown-5m-{T0 + 300}"].status is Status.NEXT
    gamma.freeze(T0 + 301)
    rows = by_key(d.upcoming(now(gamma), 0))
    assert rows[f"btc-updown-5m-{T0 + 300}"].status is Status.OPEN
    assert f"btc-updown-5m-{T0}" not in rows  # ended windows leave the list


def test_each_window_is_validated_at_least_a_minute_before_it_opens(gamma: GammaServer) -> None:
    d = make(gamma, "btc-updown-5m", lead_ms=60_000)
    gamma.freeze(T0 + 200)  # 100 s before the next window: a zero horizon still reaches a minute ahead
    assert [r.key for r in d.upcoming(now(gamma), 0)] == [f"btc-updown-5m-{T0}"]
    gamma.freeze(T0 + 240)
    rows = by_key(d.upcoming(now(gamma), 0))
    following = rows[f"btc-updown-5m-{T0 + 300}"]
    assert following.status is Status.NEXT
    assert following.validated_ahead(60_000)
    assert not rows[f"btc-updown-5m-{T0}"].validated_ahead(60_000)  # first seen while open


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("malformed", Status.SKIPPED, "cannot parse market.clobTokenIds: not a JSON list"),
        ("no_tokens", Status.SKIPPED, "no token ids"),
        ("twap30", Status.SKIPPED, "rules differ: TWAP window is 30 s"),
        ("binance", Status.SKIPPED, "rules differ: settles on Binance"),
        ("not_accepting", Status.SKIPPED, "not accepting orders"),
        ("hidden", Status.NOT_LISTED, "Gamma has no market"),
    ],
)
def test_a_faulty_window_is_not_traded_and_says_why(
    gamma: GammaServer, fault: str, status: Status, words: str
) -> None:
    slug = f"btc-updown-5m-{T0 + 300}"
    gamma.fault(slug, fault)
    rows = by_key(make(gamma, "btc-updown-5m").upcoming(now(gamma), 300_000))
    assert rows[slug].status is status
    assert not rows[slug].tradeable
    assert words in rows[slug].reason
    assert "\n" not in rows[slug].reason
    assert rows[f"btc-updown-5m-{T0}"].status is Status.OPEN  # its neighbours are not affected


def test_outcomes_listed_down_first_still_map_the_right_tokens(gamma: GammaServer) -> None:
    slug = f"btc-updown-5m-{T0}"
    gamma.fault(slug, "reversed")
    row = by_key(make(gamma, "btc-updown-5m").upcoming(now(gamma), 0))[slug]
    assert row.status is Status.OPEN
    assert row.market is not None
    assert row.market.token_ids == gamma.token_ids(slug)


def test_a_5xx_leaves_windows_unchecked_and_the_next_call_recovers(gamma: GammaServer) -> None:
    d = make(gamma, "btc-updown-5m")
    gamma.fail_next("/events", status=503)
    rows = d.upcoming(now(gamma), 0)
    assert [r.status for r in rows] == [Status.UNCHECKED]
    assert "HTTP 503" in rows[0].reason
    assert d.errors
    assert "503" in d.errors[0]
    assert [r.status for r in d.upcoming(now(gamma), 0)] == [Status.OPEN]
    assert not d.errors


def test_a_failed_refresh_keeps_what_was_known(gamma: GammaServer) -> None:
    d = make(gamma, "btc-updown-5m", refresh_ms=10_000)
    d.upcoming(now(gamma), 0)
    gamma.freeze(T0 + 45)
    gamma.fail_next("/events", status=502)
    (row,) = d.upcoming(now(gamma), 0)
    assert row.status is Status.OPEN
    assert "last refresh failed" in row.reason


def test_a_slow_answer_times_out_cleanly(gamma: GammaServer) -> None:
    gamma.slow(2.0, "/events")
    d = make(gamma, "btc-updown-5m", timeout_s=0.3)
    (row,) = d.upcoming(now(gamma), 0)
    assert row.status is Status.UNCHECKED
    assert "no answer within 0.3 s" in row.reason


def test_resolution_is_reported_once_when_gamma_agrees(gamma: GammaServer) -> None:
    slug = f"btc-updown-5m-{T0}"
    gamma.set_winner(slug, "Down")
    d = make(gamma, "btc-updown-5m", resolve_poll_ms=15_000)
    d.upcoming(now(gamma), 0)
    gamma.freeze(T0 + 300 + 20)  # ended, not resolved yet
    d.upcoming(now(gamma), 0)
    assert d.resolutions(now(gamma)) == []
    (pending,) = d.pending(now(gamma))
    assert pending.status is Status.ENDED
    assert "closed=false" in pending.reason
    gamma.freeze(T0 + 300 + 61)
    (done,) = d.resolutions(now(gamma))
    assert done.key == slug
    assert done.status is Status.RESOLVED
    assert done.resolution is not None
    assert done.resolution.winner is Outcome.DOWN
    assert done.resolution.down_payout == 1_000_000
    gamma.freeze(T0 + 300 + 120)
    assert d.resolutions(now(gamma)) == []
    assert d.pending(now(gamma)) == []


def test_a_stale_answer_is_not_taken_for_a_resolution(gamma: GammaServer) -> None:
    slug = f"btc-updown-5m-{T0}"
    gamma.fault(slug, "stale")
    d = make(gamma, "btc-updown-5m", resolve_poll_ms=1_000)
    d.upcoming(now(gamma), 0)
    gamma.freeze(T0 + 300 + 600)  # long after the end, Gamma still answers closed=false
    assert d.resolutions(now(gamma)) == []
    (pending,) = d.pending(now(gamma))
    assert "closed=false" in pending.reason
    gamma.clear_faults(slug)
    gamma.freeze(T0 + 300 + 602)
    (done,) = d.resolutions(now(gamma))
    assert done.resolution is not None
    assert done.resolution.winner is not None


def test_explicit_markets_by_slug_condition_and_token(gamma: GammaServer) -> None:
    slug = f"eth-updown-15m-{T0}"
    up, _ = gamma.token_ids(slug)
    refs = [slug, gamma.condition_id(slug), up]
    d = Discovery(GammaClient(gamma.url), (), refs)
    rows = by_key(d.upcoming(now(gamma), 0))
    for ref in refs:
        assert rows[ref].status is Status.OPEN, ref
        assert rows[ref].explicit, ref
        assert rows[ref].market is not None
        assert rows[ref].market.token_ids == gamma.token_ids(slug)
        assert rows[ref].series == "eth-updown-15m"


def test_explicit_markets_of_other_kinds(gamma: GammaServer) -> None:
    generic: dict[str, Any] = {
        "slug": "will-it-snow-in-paris-on-christmas",
        "title": "Will it snow in Paris on Christmas?",
        "markets": [
            {
                "conditionId": "0x" + "ab" * 32,
                "question": "Will it snow in Paris on Christmas?",
                "slug": "will-it-snow-in-paris-on-christmas",
                "outcomes": '["Yes", "No"]',
                "clobTokenIds": '["111", "222"]',
                "endDate": "2026-12-26T00:00:00Z",
                "orderPriceMinTickSize": 0.001,
                "orderMinSize": 5,
                "closed": False,
                "acceptingOrders": True,
                "negRisk": False,
                "feesEnabled": False,
            }
        ],
    }
    hourly: dict[str, Any] = {
        "slug": "bitcoin-up-or-down-october-4-2026-5am-et",
        "markets": [
            {
                **generic["markets"][0],
                "conditionId": "0x" + "cd" * 32,
                "question": "Bitcoin Up or Down - October 4, 5AM ET",
                "outcomes": '["Up", "Down"]',
                "eventStartTime": "2026-10-04T09:00:00Z",
                "endDate": "2030-10-04T10:00:00Z",
                "resolutionSource": "https://www.binance.com/en/trade/BTC_USDT",
                "cryptoMarketConfig": None,
            }
        ],
    }
    gamma.add_event(generic)
    gamma.add_event(hourly)
    d = Discovery(GammaClient(gamma.url), (), [generic["slug"], hourly["slug"], "no-such-market"])
    rows = by_key(d.upcoming(now(gamma), 0))
    assert rows[generic["slug"]].status is Status.OPEN
    assert rows[generic["slug"]].family == GENERIC
    assert rows[generic["slug"]].market.tick == 1_000
    assert rows[hourly["slug"]].status is Status.SKIPPED
    assert "Binance" in rows[hourly["slug"]].reason
    assert rows["no-such-market"].status is Status.NOT_LISTED


def test_bad_input_is_refused_before_any_request(gamma: GammaServer) -> None:
    with pytest.raises(DiscoveryError, match="unknown coin 'pepe'"):
        make(gamma, "pepe-updown-5m")
    with pytest.raises(DiscoveryError, match="condition id"):
        Discovery(GammaClient(gamma.url), (), ["0x1234"])
    assert gamma.requests == []


def test_an_explicit_market_resolves_once_however_often_it_is_listed(gamma: GammaServer) -> None:
    slug = f"btc-updown-5m-{T0}"
    gamma.set_winner(slug, "Up")
    d = Discovery(GammaClient(gamma.url), (), [gamma.condition_id(slug)], resolve_poll_ms=1_000)
    d.upcoming(now(gamma), 0)
    gamma.freeze(T0 + 300 + 61)
    d.upcoming(now(gamma), 0)
    (done,) = d.resolutions(now(gamma))
    assert done.resolution is not None
    assert done.resolution.winner is Outcome.UP
    assert done.explicit
    gamma.freeze(T0 + 300 + 90)
    (row,) = d.upcoming(now(gamma), 0)
    assert row.status is Status.RESOLVED
    assert d.resolutions(now(gamma)) == []
    assert d.pending(now(gamma)) == []


def test_a_bad_answer_after_the_end_does_not_drop_a_window_to_resolve(gamma: GammaServer) -> None:
    slug = f"btc-updown-5m-{T0}"
    d = make(gamma, "btc-updown-5m", resolve_poll_ms=1_000)
    d.upcoming(now(gamma), 0)
    gamma.fault(slug, "malformed")
    gamma.freeze(T0 + 300 + 61)
    d.upcoming(now(gamma), 0)
    assert d.resolutions(now(gamma)) == []
    (pending,) = d.pending(now(gamma))
    assert pending.key == slug
    assert "last refresh failed: malformed Gamma row" in pending.reason
    gamma.clear_faults(slug)
    gamma.freeze(T0 + 300 + 63)
    (done,) = d.resolutions(now(gamma))
    assert done.key == slug
    assert done.resolution is not None
