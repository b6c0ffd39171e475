"""The 50/50 split outcome (payout numerators [1, 1]): each token pays 0.5 a share, exactly in
micros, from the model to the paper venue, the LIVE books awaiting redemption, the redemption
candidates and the tape."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bot.activity import Activity
from bot.exits import Lifecycle
from bot.feeds.tape import TapeReader, TapeWriter
from bot.journal import Journal
from bot.model import (
    HALF,
    ONE,
    SPLIT,
    Action,
    BookTick,
    Fill,
    Intent,
    Liquidity,
    Market,
    Mode,
    Order,
    OrderType,
    Outcome,
    Settlement,
    WindowOpened,
    WindowResolved,
    exit_reason_at_resolution,
    notional,
    parse_resolution,
    payout_per_share,
    resolution_name,
    taker_fee,
)
from bot.portfolio import Portfolio
from bot.redemption.worker import candidates
from bot.resolution import collect_redeemed, redemption_payout, settle_left_behind
from bot.venues.paper import PaperVenue

T0 = 1_764_000_000_000
MARKET = Market(
    market_id="0xabc",
    instrument="BTC",
    name="Bitcoin Up or Down",
    window_start_ms=T0,
    window_end_ms=T0 + 300_000,
    fee_rate_ppm=70_000,
    token_ids=("111", "222"),
)


def test_a_split_pays_half_a_share_on_either_side_exactly() -> None:
    assert HALF == 500_000
    assert payout_per_share(None, Outcome.UP) == HALF
    assert payout_per_share(None, Outcome.DOWN) == HALF
    assert payout_per_share(Outcome.UP, Outcome.UP) == ONE
    assert payout_per_share(Outcome.UP, Outcome.DOWN) == 0
    assert notional(payout_per_share(None, Outcome.UP), 7_330_000) == 3_665_000  # 7.33 shares → $3.665


def test_resolution_names_round_trip_and_refuse_anything_else() -> None:
    for winner in (Outcome.UP, Outcome.DOWN, None):
        assert parse_resolution(resolution_name(winner)) is winner
    assert resolution_name(None) == SPLIT
    with pytest.raises(ValueError, match="'HALF' is not UP, DOWN or SPLIT"):
        parse_resolution("HALF")
    assert exit_reason_at_resolution(None, Outcome.DOWN) == SPLIT
    assert exit_reason_at_resolution(Outcome.DOWN, Outcome.DOWN) == "WON"
    assert exit_reason_at_resolution(Outcome.DOWN, Outcome.UP) == "LOST"


def _fill(outcome: Outcome, price: int, shares: int, fee: int, n: int = 1) -> tuple[Fill, Order]:
    order = Order(
        f"o{n}", MARKET.market_id, outcome, Action.BUY, price, shares, OrderType.FAK, Intent.ENTRY, T0
    )
    fill = Fill(
        f"f{n}",
        order.order_id,
        T0 + n,
        MARKET.market_id,
        outcome,
        Action.BUY,
        price,
        shares,
        fee,
        Liquidity.TAKER,
    )
    return fill, order


def _books(mode: Mode) -> tuple[Journal, Portfolio]:
    journal = Journal(":memory:")
    journal.start_session(mode, "test", 0, {}, T0)
    journal.market_opened(MARKET)
    portfolio = Portfolio(journal, mode)
    portfolio.deposit(100 * ONE, T0, "start")
    return journal, portfolio


def test_the_paper_venue_settles_a_split_at_half_and_the_position_closes_as_split() -> None:
    venue = PaperVenue(cash=100 * ONE)
    venue.on_market(WindowOpened(T0, MARKET))
    _, portfolio = _books(Mode.PAPER)
    price, shares = 430_000, 12_340_000
    fee = taker_fee(shares, price, MARKET.fee_rate_ppm)
    portfolio.on_fill(*_fill(Outcome.DOWN, price, shares, fee))
    venue.holdings[(MARKET.market_id, Outcome.DOWN)] = shares
    (settlement,) = venue.on_market(WindowResolved(T0 + 400_000, MARKET.market_id, None))
    assert isinstance(settlement, Settlement)
    assert settlement.payout == 6_170_000  # 12.34 shares × 0.5
    assert settlement.winning is None
    cash_before = portfolio.cash
    position = portfolio.on_settlement(settlement)
    assert position is not None
    assert position.exit_reason == SPLIT
    assert position.exit_price == HALF
    assert position.realized == 6_170_000 - notional(price, shares) - fee
    assert portfolio.cash == cash_before + 6_170_000


def test_live_holds_both_sides_of_a_split_for_redemption_then_books_half_once(tmp_path: Path) -> None:
    journal, portfolio = _books(Mode.LIVE)
    activity = Activity(journal, tmp_path)
    up_fee, down_fee = taker_fee(10 * ONE, 600_000, 70_000), taker_fee(4 * ONE, 380_000, 70_000)
    portfolio.on_fill(*_fill(Outcome.UP, 600_000, 10 * ONE, up_fee, 1))
    portfolio.on_fill(*_fill(Outcome.DOWN, 380_000, 4 * ONE, down_fee, 2))
    settled: list[Settlement] = []

    def apply(batch: list[Settlement]) -> None:
        for s in batch:
            settled.append(s)
            portfolio.on_settlement(s)

    event = WindowResolved(T0 + 400_000, MARKET.market_id, None)
    journal.market_resolved(MARKET.market_id, None, event.ts_ms)
    settle_left_behind(event, MARKET, portfolio, apply, journal, activity, Mode.LIVE)
    assert settled == [], "nothing is paid before redemption"
    up, down = (
        portfolio.positions[(MARKET.market_id, Outcome.UP)],
        portfolio.positions[(MARKET.market_id, Outcome.DOWN)],
    )
    assert up.state == Lifecycle.AWAITING_REDEMPTION
    assert down.state == Lifecycle.AWAITING_REDEMPTION
    assert portfolio.value(up) == 5 * ONE  # marked at 0.5
    assert portfolio.value(down) == 2 * ONE
    lines = [a for a in activity.recent if a["type"] == "POSITION_EXIT"]
    assert len(lines) == 2
    assert all("resolved 50/50 (SPLIT, 0.5 a share)" in str(a["details"]) for a in lines)
    assert redemption_payout(journal, up) == (None, 5 * ONE)
    (candidate,) = candidates(
        portfolio.positions.values(),
        lambda m: False,
        lambda p: (redemption_payout(journal, p) or (None, 0))[1],
    )
    assert candidate.payout_micros == 7 * ONE
    # the wallet still holds the tokens: nothing booked; once burnt, each side is settled once
    assert collect_redeemed(portfolio, journal, lambda token: ONE, apply, T0 + 500_000) == 0
    cash = portfolio.cash
    assert collect_redeemed(portfolio, journal, lambda token: 0, apply, T0 + 600_000) == 2
    assert collect_redeemed(portfolio, journal, lambda token: 0, apply, T0 + 700_000) == 0
    assert [s.payout for s in settled] == [5 * ONE, 2 * ONE]
    assert portfolio.cash == cash + 7 * ONE
    assert not portfolio.positions
    closed = [p for _, p in portfolio.closed_today]
    assert [p.exit_reason for p in closed] == [SPLIT, SPLIT]
    assert closed[0].realized == 5 * ONE - 6 * ONE - up_fee
    assert closed[1].realized == 2 * ONE - notional(380_000, 4 * ONE) - down_fee


def test_a_journal_from_before_the_split_pays_a_won_position_in_full() -> None:
    journal, portfolio = _books(Mode.LIVE)
    portfolio.on_fill(*_fill(Outcome.UP, 600_000, 10 * ONE, 0))
    position = portfolio.positions[(MARKET.market_id, Outcome.UP)]
    assert redemption_payout(journal, position) == (Outcome.UP, 10 * ONE)
    journal.market_resolved(MARKET.market_id, Outcome.UP, T0)
    assert redemption_payout(journal, position) == (Outcome.UP, 10 * ONE)


def test_a_split_survives_the_tape(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl"
    writer = TapeWriter(path)
    events = [
        WindowOpened(T0, MARKET),
        BookTick(T0 + 1, MARKET.market_id, 490_000, ONE, 510_000, ONE),
        WindowResolved(T0 + 400_000, MARKET.market_id, None, 97_000.5),
    ]
    for event in events:
        writer.write(event)
    writer.close()
    assert b'"o":"SPLIT"' in gzip.decompress(path.read_bytes())
    read = list(TapeReader(path))
    assert read[-1] == events[-1]
