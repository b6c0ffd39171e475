"""The local Gamma stand-in itself: its endpoints, listing horizon, resolution and faults."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from bot.testing.gamma_server import GammaServer

T0 = 1_790_000_100


@pytest.fixture
def gamma() -> Iterator[GammaServer]:
    with GammaServer(series=["btc-updown-5m"], listed_ahead_s=3_600, history_s=3_600) as server:
        server.freeze(T0 + 10)
        yield server


def get(gamma: GammaServer, path: str, **params: object) -> httpx.Response:
    return httpx.get(gamma.url + path, params=params, timeout=5)  # type: ignore[arg-type]


def test_windows_are_listed_a_horizon_ahead_and_kept_a_while(gamma: GammaServer) -> None:
    assert get(gamma, f"/events/slug/btc-updown-5m-{T0 + 3_600}").status_code == 200
    assert get(gamma, f"/events/slug/btc-updown-5m-{T0 + 3_900}").status_code == 404
    assert get(gamma, f"/events/slug/btc-updown-5m-{T0 - 3_300}").status_code == 200
    assert get(gamma, f"/events/slug/btc-updown-5m-{T0 - 3_600}").status_code == 404  # 3,610 s old
    assert get(gamma, f"/events/slug/btc-updown-5m-{T0 + 1}").status_code == 404  # off the grid
    assert get(gamma, f"/events/slug/eth-updown-5m-{T0}").status_code == 404  # not served


def test_markets_by_slug_condition_and_token_carry_their_event(gamma: GammaServer) -> None:
    slug = f"btc-updown-5m-{T0}"
    up, down = gamma.token_ids(slug)
    by_slug = get(gamma, f"/markets/slug/{slug}").json()
    assert json.loads(by_slug["clobTokenIds"]) == [up, down]
    assert by_slug["events"][0]["slug"] == slug
    (by_condition,) = get(gamma, "/markets", condition_ids=gamma.condition_id(slug)).json()
    (by_token,) = get(gamma, "/markets", clob_token_ids=down).json()
    assert by_condition["conditionId"] == by_token["conditionId"] == gamma.condition_id(slug)


def test_series_and_open_events_by_series(gamma: GammaServer) -> None:
    (series,) = get(gamma, "/series", slug="btc-up-or-down-5m").json()
    assert series["recurrence"] == "5m"
    assert series["events"][0]["slug"] == f"btc-updown-5m-{T0}"
    rows = get(gamma, "/events", series_slug="btc-up-or-down-5m", closed="false", limit=3).json()
    # as on Gamma, closed=false still holds the window that ended 10 s ago and is not resolved
    assert [e["slug"] for e in rows] == [f"btc-updown-5m-{T0 + i * 300}" for i in (-1, 0, 1)]


def test_a_window_resolves_after_its_end_as_the_winner_set(gamma: GammaServer) -> None:
    slug = f"btc-updown-5m-{T0}"
    gamma.set_winner(slug, "Down")
    gamma.freeze(T0 + 300 + 59)
    market = get(gamma, f"/events/slug/{slug}").json()["markets"][0]
    assert market["closed"] is False
    assert market["umaResolutionStatus"] is None
    gamma.freeze(T0 + 300 + 60)
    market = get(gamma, f"/events/slug/{slug}").json()["markets"][0]
    assert (market["closed"], market["umaResolutionStatus"]) == (True, "resolved")
    assert json.loads(market["outcomePrices"]) == ["0", "1"]


def test_injected_failures_and_their_count(gamma: GammaServer) -> None:
    gamma.fail_next("/events", status=503, count=2)
    assert [get(gamma, "/events", slug="x").status_code for _ in range(3)] == [503, 503, 200]
    assert get(gamma, "/nowhere").status_code == 404
    with pytest.raises(ValueError, match="unknown fault"):
        gamma.fault(f"btc-updown-5m-{T0}", "gremlins")
