"""The live Polymarket venue, its feed and the dry-run venue against the local CLOB V2 server,
driven through the real py-clob-client-v2 signing (127.0.0.1 only, never the internet).

Faults come from the server (delays past the confirmation window, 5xx/425/429, 401, broken
JSON, lost answers, fills after a cancel, duplicated trades). Each fault test checks that no
order was placed twice (``server.requests``) and that no fill was lost.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.config import ConfigError
from bot.errors import OrderRefused, VenueBusy, VenueFatal, VenueUnavailable
from bot.feeds.polymarket import PolymarketFeed
from bot.model import (
    ONE,
    Action,
    BookTick,
    Fill,
    Intent,
    Liquidity,
    OrderDone,
    OrderRequest,
    OrderStatus,
    OrderType,
    Outcome,
    VenueEvent,
    WindowOpened,
    WindowResolved,
    now_ms,
)
from bot.testing.clob_server import ClobServer
from bot.venues.base import Venue
from bot.venues.dry_run import DryRunVenue
from bot.venues.polymarket import (
    PolymarketCredentials,
    PolymarketVenue,
    classify_status,
    credentials_from_env,
    parse_retry_after,
)
from bot.venues.polymarket.pacing import PERSISTENT_LIMIT_S, RetryGate
from bot.venues.polymarket.poll import BackgroundPoll
from bot.venues.polymarket.signing import order_amounts, round_price, round_size

KEY = "0x" + "11" * 32  # a throwaway key, not a wallet
COND = "0x" + "c0" * 32
UP, DOWN = "1001", "1002"
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[ClobServer]:
    with ClobServer(trade_settle_s=0.2) as srv:
        srv.add_market(COND, (UP, DOWN), tick=0.01, min_size=5, fee_rate=0.07, question="BTC up?")
        srv.set_book(UP, bids=[(0.48, 100)], asks=[(0.52, 5), (0.53, 100)])
        srv.set_book(DOWN, bids=[(0.47, 100)], asks=[(0.52, 100)])
        yield srv


@pytest.fixture
def make_venue(server: ClobServer) -> Iterator[Callable[..., PolymarketVenue]]:
    venues: list[PolymarketVenue] = []

    def make(**options: Any) -> PolymarketVenue:
        creds = options.pop("credentials", None) or PolymarketCredentials(KEY, *server.creds)
        venue = PolymarketVenue(server.url, credentials=creds, **options)
        venues.append(venue)
        venue.validate_markets([COND])
        return venue

    yield make
    for venue in venues:
        venue.close()


@pytest.fixture
def venue(make_venue: Callable[..., PolymarketVenue]) -> PolymarketVenue:
    return make_venue(confirm_timeout_s=0.3, unknown_grace_s=0.4)


_ids = count(1)


def req(
    price: float,
    size: float,
    outcome: Outcome = Outcome.UP,
    action: Action = Action.BUY,
    order_type: OrderType = OrderType.GTC,
    expires_ms: int | None = None,
) -> OrderRequest:
    return OrderRequest(
        f"it-{next(_ids)}",
        COND,
        outcome,
        action,
        round(price * ONE),
        round(size * ONE),
        order_type,
        expires_ms,
        Intent.ENTRY,
    )


def posts(server: ClobServer) -> list[Any]:
    return [r.body for r in server.requests if (r.method, r.path) == ("POST", "/order")]


def count_requests(server: ClobServer, method: str, path: str) -> int:
    return sum(1 for r in server.requests if (r.method, r.path) == (method, path))


def live_orders(server: ClobServer) -> list[dict[str, Any]]:
    return server.exchange.orders(server.api_key, live_only=True)


def fills(events: list[VenueEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def dones(events: list[VenueEvent]) -> list[OrderDone]:
    return [e for e in events if isinstance(e, OrderDone)]


def wait_for(predicate: Callable[[], T], timeout: float = 3.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


# -- pure pieces -----------------------------------------------------------------------


def test_rounding_never_worsens_the_limit() -> None:
    assert round_price(456_000, 10_000, Action.BUY) == 450_000
    assert round_price(451_000, 10_000, Action.SELL) == 460_000
    assert round_price(450_000, 10_000, Action.SELL) == 450_000
    assert round_price(456_700, 2_500, Action.BUY) == 455_000
    assert round_size(5_029_999) == 5_020_000


def test_order_amounts_are_exact() -> None:
    # the client's float rounding signs 5.02 shares as 5.01; ours stays exact
    assert order_amounts(Action.BUY, OrderType.GTC, 450_000, 5_020_000, 10_000) == (
        2_259_000,
        5_020_000,
        5_020_000,
    )
    assert order_amounts(Action.SELL, OrderType.GTD, 537_000, 10_010_000, 1_000) == (
        10_010_000,
        5_375_370,
        10_010_000,
    )
    # a market BUY spends whole cents and takes what they buy, to the tick's amount precision
    assert order_amounts(Action.BUY, OrderType.FOK, 530_000, 10_010_000, 10_000) == (
        5_300_000,
        10_000_000,
        10_000_000,
    )
    # market orders: at most 4 decimals in the taker amount, whatever the tick
    assert order_amounts(Action.BUY, OrderType.FAK, 537_000, 10_500_000, 1_000) == (
        5_630_000,
        10_484_100,
        10_484_100,
    )
    assert order_amounts(Action.SELL, OrderType.FAK, 480_000, 10_000_000, 10_000) == (
        10_000_000,
        4_800_000,
        10_000_000,
    )


def test_error_classification() -> None:
    unavailable = [classify_status(s, "x", 2.0) for s in (None, 500, 502, 503, 425, 429)]
    assert all(isinstance(e, VenueUnavailable) and e.retry_after_s == 2.0 for e in unavailable)
    assert all(isinstance(classify_status(s, "x"), OrderRefused) for s in (400, 404))
    assert isinstance(classify_status(429, "x"), VenueBusy)  # slow down: back off, no fault
    persistent = classify_status(429, "x", persistent=True)  # a rate limit that does not go away
    assert isinstance(persistent, VenueUnavailable)
    assert not isinstance(persistent, VenueBusy)
    assert not isinstance(classify_status(503, "x"), VenueBusy)
    assert all(isinstance(classify_status(s, "x"), VenueFatal) for s in (401, 403, 405))
    assert str(classify_status(400, "POST /order: invalid price")) == "HTTP 400: POST /order: invalid price"
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now_s=1445412480) == 5.0


# -- credentials and secrets -----------------------------------------------------------


def test_credentials_from_env() -> None:
    creds = credentials_from_env({"POLYMARKET_PRIVATE_KEY": "  " + "AB" * 32 + "\n"})
    assert creds.private_key == "0x" + "ab" * 32
    assert not creds.has_api_creds
    full = credentials_from_env(
        {
            "POLYMARKET_PRIVATE_KEY": KEY,
            "POLYMARKET_API_KEY": "key-1234-5678",
            "POLYMARKET_API_SECRET": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
            "POLYMARKET_API_PASSPHRASE": "pass-phrase",
        }
    )
    assert full.has_api_creds
    assert (
        repr(full)
        == str(full)
        == (
            "PolymarketCredentials(private_key=<redacted>, api_key=key-12...5678,"
            " api_secret=<redacted>, api_passphrase=<redacted>)"
        )
    )
    for environ, expected in [
        ({}, "POLYMARKET_PRIVATE_KEY is not set"),
        ({"POLYMARKET_PRIVATE_KEY": "0x1234"}, "POLYMARKET_PRIVATE_KEY is malformed"),
        ({"POLYMARKET_PRIVATE_KEY": "0x" + "zz" * 32}, "POLYMARKET_PRIVATE_KEY is malformed"),
        ({"POLYMARKET_PRIVATE_KEY": "0x" + "00" * 32}, "POLYMARKET_PRIVATE_KEY is malformed"),
        (
            {"POLYMARKET_PRIVATE_KEY": KEY, "POLYMARKET_API_KEY": "k"},
            "POLYMARKET_API_SECRET, POLYMARKET_API_PASSPHRASE",
        ),
        (
            {
                "POLYMARKET_PRIVATE_KEY": KEY,
                "POLYMARKET_API_KEY": "k",
                "POLYMARKET_API_SECRET": "not base64!",
                "POLYMARKET_API_PASSPHRASE": "p",
            },
            "POLYMARKET_API_SECRET is not valid",
        ),
    ]:
        with pytest.raises(ConfigError) as info:
            credentials_from_env(environ)
        message = str(info.value)
        assert expected in message
        assert "\n" not in message
        assert all(v not in message for v in environ.values() if len(v) > 8)


def test_secrets_appear_in_no_file_log_output_or_repr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    canary_key = "0x" + "11" * 32
    canary_secret = "Y2FuYXJ5LXNlY3JldC1jYW5hcnktc2VjcmV0LTEyMzQ="  # base64 of canary-secret-...
    canary_passphrase = "canary-passphrase-5f1e"
    caplog.set_level(logging.DEBUG)
    with ClobServer(api_secret=canary_secret, api_passphrase=canary_passphrase, trade_settle_s=0.1) as srv:
        srv.add_market(COND, (UP, DOWN), tick=0.01, min_size=5, fee_rate=0.07)
        srv.set_book(UP, bids=[(0.48, 100)], asks=[(0.52, 100)])
        creds = credentials_from_env(
            {
                "POLYMARKET_PRIVATE_KEY": canary_key,
                "POLYMARKET_API_KEY": srv.api_key,
                "POLYMARKET_API_SECRET": canary_secret,
                "POLYMARKET_API_PASSPHRASE": canary_passphrase,
            }
        )
        venue = PolymarketVenue(srv.url, credentials=creds, confirm_timeout_s=0.2, unknown_grace_s=0.1)
        [market] = venue.validate_markets([COND])
        resting, _ = venue.place(req(0.45, 10), now_ms())
        venue.place(req(0.55, 5), now_ms())
        srv.cross(UP, 0.45, 3)
        venue.poll(now_ms())
        venue.cancel(resting.order_id, now_ms(), "test")
        srv.delay_next("POST", "/order", 0.4)
        unknown, _ = venue.place(req(0.44, 5), now_ms())
        wait_for(lambda: len(live_orders(srv)) == 1)
        venue.poll(now_ms())
        venue.send_heartbeat()
        venue.balance()
        errors: list[Exception] = []
        for status in (401, 425, 429):
            srv.fail_next("POST", "/order", status)
            with pytest.raises((VenueFatal, VenueUnavailable)) as info:
                venue.place(req(0.43, 5), now_ms())
            errors.append(info.value)
            time.sleep(getattr(info.value, "retry_after_s", None) or 0)  # the venue asked to wait
        info = venue.market_info(COND)
        assert info is not None
        dry = DryRunVenue(
            tmp_path / "logs" / "dry_run_orders.jsonl", [info], cash=100 * ONE, credentials=creds
        )
        dry.on_market(WindowOpened(now_ms(), market))
        dry.on_market(BookTick(now_ms(), COND, 480_000, 100 * ONE, 520_000, 100 * ONE))
        dry.place(req(0.55, 5), now_ms())
        with pytest.raises(OrderRefused):
            dry.place(req(0.50, 5_000), now_ms())
        print(repr(venue), repr(creds), str(creds), repr(unknown), *map(str, errors), *map(repr, errors))
        logging.getLogger("test").info("venue %r creds %s", venue, creds)
        venue.close()
    out, err = capsys.readouterr()
    texts = {"log": caplog.text, "stdout": out, "stderr": err}
    texts |= {str(p): p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert any("dry_run_orders.jsonl" in name for name in texts)
    assert "PolymarketVenue(" in out
    assert "<redacted>" in out
    assert "0x19E7...ff2A" in out
    for canary in (canary_key, canary_key[2:], canary_key[2:].upper(), canary_secret, canary_passphrase):
        for name, text in texts.items():
            assert canary not in text, f"a secret leaked into {name}"


def test_api_credentials_are_derived_from_the_key(server: ClobServer) -> None:
    venue = PolymarketVenue(server.url, credentials=PolymarketCredentials(KEY))
    venue.validate_markets([COND])  # public: no credentials needed yet
    assert count_requests(server, "POST", "/auth/api-key") == 0
    order, _ = venue.place(req(0.45, 5), now_ms())
    assert count_requests(server, "POST", "/auth/api-key") == 1
    derived_key, _, _ = server.creds_for(venue.address)
    [row] = server.exchange.orders(derived_key, live_only=True)
    assert row["id"] == order.order_id
    venue.place(req(0.44, 5), now_ms())
    assert count_requests(server, "POST", "/auth/api-key") == 1  # once
    venue.close()


# -- markets ---------------------------------------------------------------------------


def test_validate_markets_reads_everything_from_the_api(
    server: ClobServer, make_venue: Callable[..., PolymarketVenue]
) -> None:
    neg = "0x" + "ab" * 32
    server.add_market(
        neg, ("2001", "2002"), tick=0.001, min_size=15, neg_risk=True, fee_rate=0.25, fee_exponent=2
    )
    venue = make_venue()
    by_condition = venue.validate_markets([neg])
    assert venue.validate_markets(["2001"]) == venue.validate_markets(["2002"]) == by_condition
    [market] = by_condition
    assert (market.tick, market.min_size, market.fee_rate_ppm, market.fee_exponent) == (
        1_000,
        15 * ONE,
        250_000,
        2,
    )
    assert market.token_ids == ("2001", "2002")
    info = venue.market_info(neg)
    assert info is not None
    assert info.neg_risk
    server.set_book("2001", asks=[(0.6, 50)])
    order, _ = venue.place(dataclasses.replace(req(0.555, 15), market_id=neg), now_ms())
    assert order.price == 555_000


@pytest.mark.parametrize(
    ("setup", "ident", "expected"),
    [
        (lambda s: None, "987654321", "market 987654321 not found"),
        (lambda s: None, "0x" + "ee" * 32, "not found"),
        (lambda s: s.exchange.set_accepting_orders(COND, False), UP, f"market {UP} is not accepting orders"),
        (lambda s: s.resolve(COND, UP), COND, f"market {COND} is closed"),
    ],
    ids=["unknown-token", "unknown-condition", "not-accepting", "closed"],
)
def test_validation_errors_name_the_market(
    server: ClobServer, setup: Callable[[ClobServer], None], ident: str, expected: str
) -> None:
    setup(server)
    venue = PolymarketVenue(server.url, credentials=PolymarketCredentials(KEY, *server.creds))
    with pytest.raises(ConfigError) as info:
        venue.validate_markets([ident])
    assert expected in str(info.value)
    assert ident in str(info.value)
    venue.close()


def test_orders_in_unvalidated_markets_are_refused(venue: PolymarketVenue) -> None:
    request = OrderRequest(
        "x", "0x" + "99" * 32, Outcome.UP, Action.BUY, 450_000, 5 * ONE, OrderType.GTC, None, Intent.ENTRY
    )
    with pytest.raises(OrderRefused, match="not validated"):
        venue.place(request, now_ms())


# -- placing ---------------------------------------------------------------------------


def test_order_types_map_to_the_client_order_types(server: ClobServer, venue: PolymarketVenue) -> None:
    now = now_ms()
    order, _ = venue.place(req(0.45, 5, order_type=OrderType.GTD, expires_ms=now + 90_500), now)
    body = posts(server)[-1]
    assert body["orderType"] == "GTD"
    assert (
        int(body["order"]["expiration"]) == (now + 90_500 + 999) // 1000 + 60
    )  # + the venue's 60 s threshold
    assert (body["order"]["makerAmount"], body["order"]["takerAmount"], body["order"]["side"]) == (
        "2250000",
        "5000000",
        "BUY",
    )
    assert body["owner"] == server.api_key
    assert body["order"]["signature"].startswith("0x")
    with pytest.raises(OrderRefused, match="GTD"):
        venue.place(req(0.45, 5, order_type=OrderType.GTD, expires_ms=now - 1), now)
    assert posts(server)[-1]["orderType"] == "GTD"
    assert len(posts(server)) == 1

    with pytest.raises(OrderRefused, match="FOK"):  # 5 shares at 0.52, 100 at 0.53: 200 cannot fill
        venue.place(req(0.53, 200, order_type=OrderType.FOK), now)
    assert posts(server)[-1]["orderType"] == "FOK"
    order, events = venue.place(req(0.52, 10, order_type=OrderType.FAK), now)
    assert posts(server)[-1]["orderType"] == "FAK"
    [fill] = fills(events)
    assert (fill.order_id, fill.shares, fill.price, fill.liquidity) == (
        order.order_id,
        5 * ONE,
        520_000,
        Liquidity.TAKER,
    )
    [done] = dones(events)
    assert (done.order_id, done.status, done.reason) == (
        order.order_id,
        OrderStatus.CANCELLED,
        "FAK remainder",
    )
    assert venue.order_status(order.order_id) is OrderStatus.CANCELLED
    order, events = venue.place(req(0.53, 10, order_type=OrderType.FOK), now)
    assert sum(f.shares for f in fills(events)) == 10 * ONE
    assert dones(events) == []
    assert venue.order_status(order.order_id) is OrderStatus.FILLED
    assert venue.poll(now_ms()) == []


def test_sell_rounds_up_and_buy_rounds_down(server: ClobServer, venue: PolymarketVenue) -> None:
    server.set_position(UP, 20)
    sell, _ = venue.place(req(0.6543, 10.019, action=Action.SELL), now_ms())
    buy, _ = venue.place(req(0.4567, 5.555), now_ms())
    assert (sell.price, sell.size, buy.price, buy.size) == (660_000, 10_010_000, 450_000, 5_550_000)
    prices = sorted(o["price"] for o in live_orders(server))
    assert prices == ["0.45", "0.66"]


def test_tick_size_change_is_honoured(server: ClobServer, make_venue: Callable[..., PolymarketVenue]) -> None:
    venue = make_venue()
    server.set_tick(UP, 0.1)
    server.clear_requests()
    order, _ = venue.place(req(0.45, 5), now_ms())  # refused for the tick, re-read, re-signed
    assert order.price == 400_000
    assert [o["price"] for o in live_orders(server)] == ["0.4"]
    assert len(posts(server)) == 2
    assert count_requests(server, "GET", "/tick-size") == 1
    info = venue.market_info(COND)
    assert info is not None
    assert info.market.tick == 100_000
    server.set_tick(UP, 0.01)  # finer again: every place can re-read the tick
    every = make_venue(refresh_tick_each_place=True)
    server.clear_requests()
    order, _ = every.place(req(0.43, 5), now_ms())
    assert order.price == 430_000
    assert len(posts(server)) == 1
    assert count_requests(server, "GET", "/tick-size") == 1
    server.fail_next("POST", "/order", 400, error="breaks minimum tick size rule", count=2)
    with pytest.raises(OrderRefused):  # on tick, but the venue still refuses: no loop
        every.place(req(0.42, 5), now_ms())


def test_round_trip_time_of_fifty_orders(server: ClobServer, venue: PolymarketVenue) -> None:
    times = []
    for i in range(50):
        start = time.perf_counter()
        venue.place(req(0.30 + (i % 10) / 100, 5), now_ms())
        times.append(time.perf_counter() - start)
    median_ms = statistics.median(times) * 1000
    print(f"\norder round trip against the local server: median {median_ms:.1f} ms of 50")
    assert len(live_orders(server)) == 50
    assert median_ms < 100


# -- faults ----------------------------------------------------------------------------


def test_no_answer_within_the_confirmation_window_is_unknown_then_resolved(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    server.delay_next("POST", "/order", 0.8)
    start = time.monotonic()
    order, events = venue.place(req(0.45, 10), now_ms())
    assert time.monotonic() - start < 0.7
    assert (order.status, events) == (OrderStatus.UNKNOWN, [])
    assert order.order_id.startswith("0x")
    assert len(order.order_id) == 66
    assert venue.order_status(order.order_id) is OrderStatus.UNKNOWN
    [row] = wait_for(lambda: live_orders(server))  # the venue did take it, late
    server.cross(UP, 0.45, 3)
    [fill] = venue.poll(now_ms())
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.shares, fill.liquidity) == (
        order.order_id,
        3 * ONE,
        Liquidity.MAKER,
    )
    assert venue.order_status(order.order_id) is OrderStatus.OPEN
    assert venue.venue_order_id(order.order_id) == row["id"]
    [done] = venue.cancel(order.order_id, now_ms(), "test")
    assert isinstance(done, OrderDone)
    assert (done.order_id, done.status) == (
        order.order_id,
        OrderStatus.CANCELLED,
    )
    assert live_orders(server) == []
    assert len(posts(server)) == 1


@pytest.mark.parametrize("processed", [True, False], ids=["applied", "not-applied"])
def test_unreadable_answer_is_unknown_until_reconciled(
    server: ClobServer, venue: PolymarketVenue, processed: bool
) -> None:
    server.malformed_next("POST", "/order", process=processed)
    order, events = venue.place(req(0.45, 10), now_ms())
    assert (order.status, events) == (OrderStatus.UNKNOWN, [])
    if processed:
        assert venue.poll(now_ms()) == []
        assert venue.order_status(order.order_id) is OrderStatus.OPEN
        assert len(live_orders(server)) == 1
    else:
        assert venue.poll(now_ms()) == []  # not found yet: still unknown, nothing guessed
        assert venue.order_status(order.order_id) is OrderStatus.UNKNOWN
        time.sleep(0.5)  # past unknown_grace_s
        [done] = venue.poll(now_ms())
        assert isinstance(done, OrderDone)
        assert (done.order_id, done.status) == (
            order.order_id,
            OrderStatus.REJECTED,
        )
        assert live_orders(server) == []
    assert len(posts(server)) == 1


def test_dropped_connection_after_the_venue_acted_is_unknown_then_resolved(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    server.drop_next("POST", "/order", process=True)
    order, _ = venue.place(req(0.55, 5), now_ms())  # it crossed: a taker fill happened
    assert order.status is OrderStatus.UNKNOWN
    [fill] = venue.poll(now_ms())
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.liquidity, fill.price) == (
        order.order_id,
        Liquidity.TAKER,
        520_000,
    )
    assert venue.poll(now_ms()) == []
    assert len(posts(server)) == 1


def test_a_poll_read_elsewhere_books_only_what_it_looked_for(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    """The poll's read runs on another thread (BackgroundPoll): orders posted after the read
    was asked for wait for the next read; their trades are never booked as strangers'."""
    resting, _ = venue.place(req(0.45, 5), now_ms())
    request = venue.poll_request()  # asked for now; read while the engine trades on
    server.drop_next("POST", "/order", process=True)
    unknown, _ = venue.place(req(0.55, 5), now_ms())  # it crossed: a taker trade, answer lost
    placed, _ = venue.place(req(0.44, 5), now_ms())
    server.exchange.cancel(server.api_key, [placed.order_id])  # left the book at once
    assert unknown.status is OrderStatus.UNKNOWN
    read = venue.read_poll(request)
    assert len(read.trades) == 1
    assert set(read.lookups) <= {resting.order_id}
    assert venue.book_poll(read, now_ms()) == []  # neither the trade nor the cancel, yet
    events = venue.poll(now_ms())  # the next read looks for both
    fills = [e for e in events if isinstance(e, Fill)]
    assert [f.order_id for f in fills] == [unknown.order_id]  # matched to the UNKNOWN order
    assert [(e.order_id, e.status) for e in events if isinstance(e, OrderDone)] == [
        (placed.order_id, OrderStatus.CANCELLED)
    ]
    assert venue.poll(now_ms()) == []
    assert [o["id"] for o in live_orders(server)] == [resting.order_id]


def test_the_background_poll_reads_on_its_thread_and_books_on_the_callers(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    woken: list[float] = []
    poller = BackgroundPoll(venue, lambda: woken.append(time.monotonic()), interval_s=0.05).start()
    try:
        order, _ = venue.place(req(0.45, 5), now_ms())
        server.delay_next("GET", "/data/orders", 1.0)
        assert poller.poll(now_ms()) is None  # asked: one read in flight, nothing booked yet
        assert poller.poll(now_ms()) is None
        assert not poller.ready()
        wait_for(poller.ready, timeout=5)
        assert len(woken) == 1
        assert poller.reads == 1
        server.cross(UP, 0.45, 5)
        assert poller.poll(now_ms()) == []  # read before the trade; the next read is asked for
        wait_for(poller.ready, timeout=5)
        [fill] = poller.poll(now_ms()) or []
        assert isinstance(fill, Fill)
        assert fill.order_id == order.order_id
        wait_for(poller.ready, timeout=5)
        assert poller.poll(now_ms()) == []  # once only
        server.fail_next("GET", "/data/trades", 500)
        wait_for(poller.ready, timeout=5)
        with pytest.raises(VenueUnavailable, match="HTTP 500"):  # the read's error, on the caller's thread
            poller.poll(now_ms())
        assert poller.poll(now_ms()) is None  # the next read is asked for again
    finally:
        poller.stop()


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_retry", "kind"),
    [
        (425, None, 1.0, VenueBusy),  # engine restart: 1 s, then 2, 4, ... while it lasts
        (425, 2.0, 2.0, VenueBusy),
        (429, 0.0, 1.0, VenueBusy),  # rate limited: 1 s, then 2, 4, ... while it lasts
        (429, 2.5, 2.5, VenueBusy),
    ],
)
def test_a_venue_that_says_wait_is_not_called_before_the_wait_is_over(
    server: ClobServer,
    venue: PolymarketVenue,
    status: int,
    retry_after: float | None,
    expected_retry: float,
    kind: type[VenueUnavailable],
) -> None:
    server.fail_next("POST", "/order", status, retry_after=retry_after)
    request = req(0.45, 5)
    with pytest.raises(kind) as info:
        venue.place(request, now_ms())
    assert info.value.retry_after_s == expected_retry
    assert f"HTTP {status}" in str(info.value)
    assert isinstance(info.value, VenueBusy)  # a 425 or a passing 429 is no fault for the breaker
    sent = len(server.requests)
    for call in (lambda: venue.place(request, now_ms()), lambda: venue.poll(now_ms()), venue.balance):
        with pytest.raises(VenueBusy, match="not sent"):  # reads wait as well as writes
            call()
    assert len(server.requests) == sent
    started = time.monotonic()
    order = wait_for(lambda: _placed(venue, request), timeout=expected_retry + 3)
    assert time.monotonic() - started >= expected_retry - 0.3
    assert order.status is OrderStatus.OPEN
    assert [o["id"] for o in live_orders(server)] == [order.order_id]
    assert len(posts(server)) == 2


def test_a_rate_limit_backs_off_and_only_a_persistent_one_counts_as_a_fault(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    now = [1000.0]
    gate = RetryGate(clock=lambda: now[0])
    waits = []
    for _ in range(4):  # no Retry-After: 1, 2, 4, 8 s
        waits.append(gate.answered(429, None))
        now[0] += waits[-1] or 0
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert gate.rate_limited_s() == 7.0
    gate.ok()  # another request answered: the next 429 waits 1 s again, the run goes on
    assert gate.answered(429, None) == 1.0
    assert gate.rate_limited_s() == 15.0
    now[0] += PERSISTENT_LIMIT_S + 1  # a quiet minute ends the run
    gate.answered(429, None)
    assert gate.rate_limited_s() == 0.0
    # through the venue: 429s that keep coming for over a minute become venue errors
    clock = [now[0]]
    venue.transport.gate = RetryGate(clock=lambda: clock[0])
    request = req(0.45, 5)
    server.fail_next("POST", "/order", 429, retry_after=0)
    with pytest.raises(VenueBusy):
        venue.place(request, now_ms())
    clock[0] += 30
    server.fail_next("GET", "/data/orders", 429, retry_after=0)
    with pytest.raises(VenueBusy):
        venue.poll(now_ms())
    clock[0] += 31
    server.fail_next("POST", "/order", 429, retry_after=0)
    with pytest.raises(VenueUnavailable, match="rate limited for over 60 s") as info:
        venue.place(request, now_ms())
    assert not isinstance(info.value, VenueBusy)  # counted by the breaker from now on
    assert live_orders(server) == []


def _placed(venue: PolymarketVenue, request: OrderRequest) -> Any:
    try:
        return venue.place(request, now_ms())[0]
    except VenueBusy:
        return None


def test_the_engine_restart_waits_longer_while_it_lasts(server: ClobServer, venue: PolymarketVenue) -> None:
    waits = []
    for _ in range(3):
        server.fail_next("GET", "/data/orders", 425)
        with pytest.raises(VenueBusy) as info:
            venue.poll(now_ms())
        waits.append(info.value.retry_after_s)
        time.sleep(waits[-1] or 0)
    assert waits == [1.0, 2.0, 4.0]
    venue.poll(now_ms())  # answered: the restart is over, the next 425 waits 1 s again
    server.fail_next("GET", "/data/orders", 425)
    with pytest.raises(VenueBusy) as info:
        venue.poll(now_ms())
    assert info.value.retry_after_s == 1.0


def test_the_same_refusal_again_and_again_becomes_fatal(server: ClobServer, venue: PolymarketVenue) -> None:
    server.fail_next("POST", "/order", 400, count=3, error="not enough balance / allowance")
    for _ in range(2):
        with pytest.raises(OrderRefused, match="balance"):
            venue.place(req(0.45, 5), now_ms())
    with pytest.raises(VenueFatal, match="3 orders in a row for no balance or allowance"):
        venue.place(req(0.45, 5), now_ms())
    venue.place(req(0.45, 5), now_ms())  # accepted: the streak is over
    server.fail_next("POST", "/order", 400, count=1, error="not enough balance / allowance")
    with pytest.raises(OrderRefused):
        venue.place(req(0.45, 5), now_ms())
    server.fail_next("POST", "/order", 400, error="invalid price")  # another kind: no streak
    with pytest.raises(OrderRefused, match="invalid price"):
        venue.place(req(0.45, 5), now_ms())


@pytest.mark.parametrize("lost", [500, 502, 503, 0])  # 0: the connection drops
def test_a_post_that_failed_but_landed_is_unknown_then_found_by_its_hash(
    server: ClobServer, venue: PolymarketVenue, lost: int
) -> None:
    server.lose_next_response("POST", "/order", lost)  # the order rests, the answer is lost
    request = dataclasses.replace(req(0.45, 5), created_ms=now_ms())
    order, _ = venue.place(request, now_ms())
    assert order.status is OrderStatus.UNKNOWN  # not an error to retry: it may be at the venue
    [row] = live_orders(server)
    assert row["id"] == order.order_id  # the venue's id is the signed order's hash
    again, _ = venue.place(request, now_ms() + 1400)  # a re-send of the same intent
    first, second = posts(server)
    assert first == second  # same salt, timestamp and signature: the venue sees a duplicate
    assert again.status is OrderStatus.UNKNOWN
    assert again.order_id == order.order_id
    assert len(server.exchange.orders(server.api_key)) == 1
    assert venue.poll(now_ms()) == []
    assert venue.order_status(order.order_id) is OrderStatus.OPEN
    server.cross(UP, 0.45, 5)
    [fill] = wait_for(lambda: fills(venue.poll(now_ms())))
    assert fill.order_id == order.order_id
    assert fill.shares == 5 * ONE


def test_an_unknown_fill_is_matched_to_the_unknown_order(server: ClobServer, venue: PolymarketVenue) -> None:
    server.lose_next_response("POST", "/order", 500)  # it takes at once; the answer is lost
    order, events = venue.place(req(0.53, 10), now_ms())
    assert order.status is OrderStatus.UNKNOWN
    assert events == []
    got = wait_for(lambda: fills(venue.poll(now_ms())))  # 5 @ 0.52 and 5 @ 0.53
    assert {f.order_id for f in got} == {order.order_id}
    assert sum(f.shares for f in got) == 10 * ONE
    assert venue.order_status(order.order_id) is OrderStatus.FILLED
    assert fills(venue.poll(now_ms())) == []


def test_a_failed_post_that_did_not_land_is_rejected_after_the_grace(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    server.fail_next("POST", "/order", 500)  # answered 500 and nothing placed
    order, _ = venue.place(req(0.45, 5), now_ms())
    assert order.status is OrderStatus.UNKNOWN
    [done] = wait_for(lambda: dones(venue.poll(now_ms())))
    assert (done.order_id, done.status) == (order.order_id, OrderStatus.REJECTED)
    assert live_orders(server) == []
    assert len(posts(server)) == 1


def test_a_new_intent_is_a_new_signed_order(server: ClobServer, venue: PolymarketVenue) -> None:
    a, _ = venue.place(dataclasses.replace(req(0.45, 5), created_ms=1), now_ms())
    b, _ = venue.place(dataclasses.replace(req(0.45, 5), created_ms=1), now_ms())  # another client id
    assert a.order_id != b.order_id
    assert len(live_orders(server)) == 2


def test_bad_credentials_are_fatal(server: ClobServer, make_venue: Callable[..., PolymarketVenue]) -> None:
    wrong = PolymarketCredentials(KEY, server.api_key, server.api_secret, "wrong-passphrase")
    venue = make_venue(credentials=wrong)
    with pytest.raises(VenueFatal, match="401"):
        venue.place(req(0.45, 5), now_ms())
    with pytest.raises(VenueFatal):
        venue.balance()
    with pytest.raises(VenueFatal):
        venue.poll(now_ms())
    assert live_orders(server) == []


def test_fill_after_cancel_is_booked(server: ClobServer, venue: PolymarketVenue) -> None:
    order, _ = venue.place(req(0.45, 10), now_ms())
    server.fill_after_cancel(size=4)
    [done] = venue.cancel(order.order_id, now_ms(), "test")
    assert isinstance(done, OrderDone)
    assert done.status is OrderStatus.CANCELLED
    [fill] = venue.poll(now_ms())
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.shares, fill.liquidity) == (
        order.order_id,
        4 * ONE,
        Liquidity.MAKER,
    )
    assert venue.poll(now_ms()) == []
    assert venue.cancel(order.order_id, now_ms(), "again") == []


def test_duplicate_trade_gives_one_fill(server: ClobServer, venue: PolymarketVenue) -> None:
    order, _ = venue.place(req(0.45, 10), now_ms())
    server.duplicate_trades()
    server.cross(UP, 0.45, 10)
    events = venue.poll(now_ms())
    assert [(f.order_id, f.shares) for f in fills(events)] == [(order.order_id, 10 * ONE)]
    assert venue.poll(now_ms()) == []
    time.sleep(0.25)  # MATCHED → CONFIRMED: the same trade is not booked again
    assert venue.poll(now_ms()) == []


def test_unreadable_trades_are_retried_without_losing_a_fill(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    order, _ = venue.place(req(0.45, 10), now_ms())
    server.cross(UP, 0.45, 6)
    server.malformed_next("GET", "/data/trades")
    with pytest.raises(VenueUnavailable):
        venue.poll(now_ms())
    [fill] = venue.poll(now_ms())
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.shares) == (order.order_id, 6 * ONE)


def test_trades_are_read_across_pages() -> None:
    with ClobServer(page_size=2) as srv:
        srv.add_market(COND, (UP, DOWN), tick=0.01, min_size=5)
        venue = PolymarketVenue(srv.url, credentials=PolymarketCredentials(KEY, *srv.creds))
        venue.validate_markets([COND])
        ids = [venue.place(req(0.40 + i / 100, 5), now_ms())[0].order_id for i in range(5)]
        srv.cross(UP, 0.40, 25)
        events = venue.poll(now_ms())
        assert sorted(f.order_id for f in fills(events)) == sorted(ids)
        assert venue.poll(now_ms()) == []
        venue.close()


def test_orders_leaving_the_book_at_the_venue(
    server: ClobServer, make_venue: Callable[..., PolymarketVenue]
) -> None:
    shift = [0.0]
    venue = make_venue(clock=lambda: time.time() + shift[0])
    now = now_ms()
    gtd, _ = venue.place(req(0.44, 5, order_type=OrderType.GTD, expires_ms=now + 70_000), now)
    gtc, _ = venue.place(req(0.45, 5), now)
    assert venue.poll(now_ms()) == []
    real_clock = server.exchange.clock
    server.exchange.clock = lambda: real_clock() + 200  # the GTD order's time runs out
    shift[0] = 200
    [expired] = venue.poll(now_ms())
    assert isinstance(expired, OrderDone)
    assert (expired.order_id, expired.status) == (
        gtd.order_id,
        OrderStatus.EXPIRED,
    )
    server.resolve(COND, UP)
    [resolved] = venue.poll(now_ms())
    assert isinstance(resolved, OrderDone)
    assert (resolved.order_id, resolved.status, resolved.reason) == (
        gtc.order_id,
        OrderStatus.CANCELLED,
        "market resolved",
    )
    assert venue.order_status(gtd.order_id) is OrderStatus.EXPIRED
    assert venue.poll(now_ms()) == []


def test_heartbeats_keep_one_id(server: ClobServer, venue: PolymarketVenue) -> None:
    venue.send_heartbeat()
    venue.send_heartbeat()
    first, second = [r.body for r in server.requests if r.path == "/v1/heartbeats"]
    assert first == {"heartbeat_id": ""}
    assert second["heartbeat_id"]


def test_the_venue_satisfies_the_venue_protocol(venue: PolymarketVenue, tmp_path: Path) -> None:
    venues: list[Venue] = [venue, DryRunVenue(tmp_path / "d.jsonl")]
    assert [v.mode.value for v in venues] == ["LIVE", "DRY_RUN"]
    assert venue.on_market(WindowOpened(0, venue.markets[0].market)) == []


# -- the feed --------------------------------------------------------------------------


def test_feed_turns_books_into_market_events(server: ClobServer, venue: PolymarketVenue) -> None:
    clock = [1_000_000]
    market = venue.markets[0].market
    feed = PolymarketFeed(venue, [market], poll_interval_s=0.5, status_interval_s=2.0, clock=lambda: clock[0])
    assert feed.peek_ms() == 1_000_000
    assert feed.last_update_ms(COND) is None
    opened, tick = feed.next_batch()
    assert opened == WindowOpened(1_000_000, market)
    assert tick == BookTick(1_000_000, COND, 480_000, 100 * ONE, 520_000, 5 * ONE)
    assert feed.peek_ms() == 1_000_500
    assert feed.last_update_ms(COND) == 1_000_000
    clock[0] = 1_000_500
    assert feed.next_batch() == []  # unchanged book: no tick
    server.set_book(UP, bids=[(0.49, 10)], asks=[(0.51, 20)])
    clock[0] = 1_001_000
    assert feed.next_batch() == [BookTick(1_001_000, COND, 490_000, 10 * ONE, 510_000, 20 * ONE)]
    server.fail_next("GET", "/book", 500)
    clock[0] = 1_001_500
    assert feed.next_batch() == []
    assert feed.last_update_ms(COND) == 1_001_000
    server.resolve(COND, DOWN)
    clock[0] = 1_004_000  # past the status interval
    events = feed.next_batch()
    assert events[-1] == WindowResolved(1_004_000, COND, Outcome.DOWN)
    assert feed.peek_ms() is None  # nothing left to watch


def test_feed_logs_an_engine_restart_once_when_it_starts_and_once_when_it_ends(
    server: ClobServer, venue: PolymarketVenue, caplog: pytest.LogCaptureFixture
) -> None:
    market = venue.markets[0].market
    feed = PolymarketFeed(venue, [market], poll_interval_s=0.05)
    feed.next_batch()
    read_before = feed.last_update_ms(COND)
    server.fail_next("GET", "/book", 425, count=2)  # the venue then holds every request 1 s, then 2 s
    caplog.set_level(logging.INFO, logger="bot.feeds.polymarket")
    polls = 0
    deadline = time.monotonic() + 20
    while feed.last_update_ms(COND) == read_before or feed.busy_since_ms is not None:
        assert time.monotonic() < deadline, "the book was never read again"
        time.sleep(0.05)
        feed.next_batch()
        polls += 1
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.feeds.polymarket"]
    assert polls > 20  # the feed kept polling through the restart
    assert len(lines) == 2, lines  # not one line per poll
    assert lines[0].startswith("venue busy (425, engine restart)")
    waited = float(lines[1].split("after ")[1].split(" s")[0])
    assert lines[1].startswith("venue answering again")
    assert waited >= 2


def test_feed_also_reads_through_a_public_client(server: ClobServer) -> None:
    from py_clob_client_v2 import ClobClient

    venue = PolymarketVenue(server.url, credentials=PolymarketCredentials(KEY, *server.creds))
    [market] = venue.validate_markets([UP])
    feed = PolymarketFeed(ClobClient(server.url, 137), [market], poll_interval_s=1)
    events = feed.next_batch()
    assert [type(e) for e in events] == [WindowOpened, BookTick]
    venue.close()


# -- the dry-run venue -----------------------------------------------------------------


def dry_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("signed", [True, False])
def test_dry_run_writes_the_payload_and_simulates_the_fill(
    server: ClobServer, venue: PolymarketVenue, tmp_path: Path, signed: bool
) -> None:
    info = venue.market_info(COND)
    assert info is not None
    creds = PolymarketCredentials(KEY, *server.creds) if signed else None
    path = tmp_path / "logs" / "dry_run_orders.jsonl"
    dry = DryRunVenue(path, [info], cash=100 * ONE, credentials=creds)
    server.clear_requests()
    dry.on_market(WindowOpened(now_ms(), info.market))
    dry.on_market(BookTick(now_ms(), COND, 480_000, 100 * ONE, 520_000, 50 * ONE))
    order, events = dry.place(req(0.5567, 5.019), now_ms())  # rounds to 0.55 x 5.01 like the live venue
    [fill] = fills(events)
    assert (order.price, order.size, fill.price, fill.shares, fill.liquidity) == (
        550_000,
        5_010_000,
        520_000,
        5_010_000,
        Liquidity.TAKER,
    )
    resting, events = dry.place(req(0.45, 10, Outcome.DOWN), now_ms())
    assert events == []
    assert resting.status is OrderStatus.OPEN
    with pytest.raises(OrderRefused):
        dry.place(req(0.50, 1_000), now_ms())
    assert server.requests == []  # nothing ever goes to the venue
    first, second, refused = dry_records(path)
    body = first["request"]["body"]
    assert (first["request"]["method"], first["request"]["path"], first["result"]) == (
        "POST",
        "/order",
        "accepted",
    )
    assert (body["order"]["makerAmount"], body["order"]["takerAmount"], body["orderType"]) == (
        "2755500",
        "5010000",
        "GTC",
    )
    assert body["order"]["tokenId"] == UP
    assert second["request"]["body"]["order"]["tokenId"] == DOWN
    assert first["book"]["up"] == {"bid": 0.48, "bid_size": 100.0, "ask": 0.52, "ask_size": 50.0}
    assert second["book"]["down"] == {"bid": 0.48, "bid_size": 50.0, "ask": 0.52, "ask_size": 100.0}
    assert first["fills"] == [
        {"fill_id": fill.fill_id, "price": 0.52, "shares": 5.01, "fee": fill.fee / ONE, "liquidity": "TAKER"}
    ]
    assert (refused["result"], refused["order_id"]) == ("refused", None)
    assert "insufficient" in refused["reason"]
    assert first["signed"] is signed
    assert bool(body["order"]["signature"]) is signed
    live_keys = set(posts_like_live(server, venue))
    assert set(body["order"]) == live_keys
    assert set(body) == {
        "order",
        "owner",
        "orderType",
        "deferExec",
        "postOnly",
    }
    assert body["owner"] == ("7e57c1...0001" if signed else "")


def posts_like_live(server: ClobServer, venue: PolymarketVenue) -> list[str]:
    venue.place(req(0.40, 5), now_ms())
    return list(posts(server)[-1]["order"])


def test_a_restarted_venue_keeps_reporting_fills_of_restored_orders(
    server: ClobServer, make_venue: Callable[..., PolymarketVenue]
) -> None:
    before = make_venue(confirm_timeout_s=0.3)
    known, _ = before.place(req(0.45, 10), now_ms())
    server.delay_next("POST", "/order", 0.6)
    unknown, _ = before.place(req(0.44, 10), now_ms())
    assert unknown.status is OrderStatus.UNKNOWN
    wait_for(lambda: len(live_orders(server)) == 2)
    server.cross(UP, 0.45, 2)  # a fill while the bot is down
    after = make_venue()
    after.restore([known, unknown])
    [fill] = after.poll(now_ms())
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.shares) == (known.order_id, 2 * ONE)
    assert after.order_status(unknown.order_id) is OrderStatus.OPEN  # found by its hash
    assert after.venue_order_id(unknown.order_id) == unknown.order_id  # the venue's id is the hash
    server.trade_against(unknown.order_id, 3)
    [fill] = after.poll(now_ms())
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.shares) == (unknown.order_id, 3 * ONE)
    assert len(posts(server)) == 2


def test_a_refusal_in_a_200_answer_is_an_order_refusal(
    server: ClobServer, venue: PolymarketVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(owner: str, address: str | None, payload: Any) -> dict[str, Any]:
        return {"success": False, "errorMsg": "market is in cancel-only mode", "orderID": "", "status": ""}

    with monkeypatch.context() as patch:
        patch.setattr(server.exchange, "place", refuse)
        with pytest.raises(OrderRefused, match="cancel-only"):
            venue.place(req(0.45, 5), now_ms())
    assert venue.place(req(0.45, 5), now_ms())[0].status is OrderStatus.OPEN


@pytest.mark.parametrize("tick", [0.1, 0.01, 0.001, 0.0001])
def test_market_orders_are_accepted_at_every_tick(
    server: ClobServer, make_venue: Callable[..., PolymarketVenue], tick: float
) -> None:
    """The server refuses market amounts past 2/4 decimals like the venue; ours pass and fill."""
    server.set_tick(UP, tick)
    bid, ask = (0.4, 0.6) if tick == 0.1 else (round(0.4 + 3 * tick, 4), round(0.6 - 7 * tick, 4))
    server.set_book(UP, bids=[(bid, 500)], asks=[(ask, 500)])
    server.set_position(UP, 100)
    venue = make_venue()
    sell, events = venue.place(req(bid, 10.01, action=Action.SELL, order_type=OrderType.FAK), now_ms())
    assert sell.status is not OrderStatus.UNKNOWN
    [fill] = fills(events) or wait_for(lambda: fills(venue.poll(now_ms())))
    assert fill.shares == 10_010_000
    assert fill.price == round(bid * ONE)
    _, events = venue.place(req(ask, 10.01, order_type=OrderType.FOK), now_ms())
    [fill] = fills(events) or wait_for(lambda: fills(venue.poll(now_ms())))
    assert fill.price == round(ask * ONE)
    assert 0 < fill.shares <= 10_010_000
    market_posts = [p for p in posts(server) if p["orderType"] in ("FAK", "FOK")]
    assert len(market_posts) == 2


def test_the_server_refuses_market_amounts_the_venue_refuses(server: ClobServer) -> None:
    from py_clob_client_v2 import ApiCreds, ClobClient, MarketOrderArgs, PartialCreateOrderOptions
    from py_clob_client_v2 import OrderType as ClientType
    from py_clob_client_v2.exceptions import PolyApiException

    server.set_tick(UP, 0.001)
    server.set_book(UP, bids=[(0.451, 500)], asks=[(0.473, 500)])
    server.set_position(UP, 100)
    client = ClobClient(server.url, 137, key=KEY, creds=ApiCreds(*server.creds))
    opts = PartialCreateOrderOptions(tick_size="0.001", neg_risk=False)
    # the vendor client signs 10.01 x 0.451 = 4.51451 (5 decimals): refused, as by the venue
    args = MarketOrderArgs(token_id=UP, amount=10.01, side="SELL", price=0.451, order_type=ClientType.FAK)
    with pytest.raises(PolyApiException) as info:
        client.create_and_post_market_order(args, opts, ClientType.FAK)
    assert "max accuracy of 2 decimals" in str(info.value.error_msg)


def test_a_cancel_of_an_unknown_order_is_done_when_the_order_is_found(
    server: ClobServer, venue: PolymarketVenue
) -> None:
    server.delay_next("POST", "/order", 0.6)  # the order lands after the confirmation window
    order, _ = venue.place(req(0.45, 5), now_ms())
    assert order.status is OrderStatus.UNKNOWN
    assert venue.cancel(order.order_id, now_ms(), "HALTED") == []  # not there yet: pending
    wait_for(lambda: len(live_orders(server)) == 1)
    [done] = wait_for(lambda: dones(venue.poll(now_ms())))
    assert (done.order_id, done.status, done.reason) == (order.order_id, OrderStatus.CANCELLED, "HALTED")
    assert live_orders(server) == []
    assert count_requests(server, "DELETE", "/order") == 1
