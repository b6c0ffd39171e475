"""The inbox's files (bot/inbox.py), the live forecasts (bot/forecasts.py) and the forecast
strategy, on real files in a temporary folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot import inbox, layout
from bot.forecasts import Forecast, Forecasts
from bot.inbox import Entry, InboxRejected, OrderIntent
from bot.model import ONE, BookTick, Market, OrderType, Outcome
from bot.strategies import WindowState, build_strategies
from tests.schema_check import assert_valid, problems

NOW = 1_796_263_200_000  # 2026-12-03T02:00:00Z
MARKET = Market(
    "BTC-1", "BTC", "BTC up or down", NOW - 60_000, NOW + 240_000, token_ids=("tok-up", "tok-down")
)


def resolve(reference: str) -> str | None:
    return MARKET.market_id if reference in (MARKET.market_id, *(MARKET.token_ids or ()), "BTC") else None


def forecast(**extra: Any) -> dict[str, Any]:
    item = {"kind": "forecast", "market": "BTC-1", "probability": 0.62, "valid_until": "2026-12-03T02:05:00Z"}
    return {**item, "source": "agent", **extra}


def order(**extra: Any) -> dict[str, Any]:
    item = {
        "kind": "order",
        "market": "tok-up",
        "outcome": "UP",
        "usd": 2,
        "limit_price": 0.4,
        "source": "agent",
    }
    return {k: v for k, v in {**item, **extra}.items() if v is not None}


def parse(item: dict[str, Any]) -> Forecast | OrderIntent:
    return inbox.parse(item, "x.json", NOW, resolve)


def test_a_forecast_is_read_with_its_time_and_outcome() -> None:
    assert_valid("inbox_forecast", forecast())
    got = parse(forecast())
    assert isinstance(got, Forecast)
    assert (got.market_id, got.p_up, got.source) == ("BTC-1", 620_000, "agent")
    assert got.valid_until_ms == NOW + 300_000
    down = parse(forecast(outcome="DOWN", valid_until=(NOW + 1000) / 1000))
    assert isinstance(down, Forecast)
    assert down.p_up == 380_000
    assert down.valid_until_ms == NOW + 1000


def test_an_order_intent_is_read_and_sized() -> None:
    assert_valid("inbox_order", order())
    got = parse(order(time_in_force="gtd", ttl_s=30))
    assert isinstance(got, OrderIntent)
    assert (got.market_id, got.outcome, got.price, got.usd, got.shares) == (
        "BTC-1",
        Outcome.UP,
        400_000,
        2 * ONE,
        None,
    )
    assert got.order_type is OrderType.GTD
    assert got.ttl_s == 30
    assert got.size_at(got.price) == 5 * ONE
    assert parse(order(usd=None, shares=7.5)).size_at(400_000) == 7_500_000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (forecast(confidence=1), "unknown key(s) 'confidence' for a forecast"),
        (forecast(probability=-0.1), "probability -0.1 is outside [0, 1]"),
        (forecast(probability=True), "probability must be a number, found a boolean"),
        (forecast(probability="0.6"), "probability must be a number, found a string"),
        (forecast(valid_until="2026-12-03T01:59:59Z"), "expired: valid_until 2026-12-03T01:59:59.000Z"),
        (forecast(valid_until="2026-12-03T02:05:00"), "has no time zone"),
        (forecast(valid_until="soon"), "not an ISO-8601 time"),
        (forecast(market="ETH-9"), "unknown market 'ETH-9'"),
        (forecast(source=""), "source is empty"),
        (forecast(source="a\nb"), "has control characters"),
        ({**forecast(), "source": None}, "source is missing"),
        (forecast(kind="opinion"), "kind is 'opinion'"),
        (order(shares=5), "give exactly one of usd and shares"),
        (order(usd=None), "give exactly one of usd and shares"),
        (order(usd=-1), "usd must be more than 0"),
        (order(usd=None, shares=5.555), "at most two decimals"),
        (order(limit_price=1), "limit_price 1 is outside (0, 1)"),
        (order(limit_price=0.1234567), "at most six decimals"),
        (order(side="SELL"), "an intent can only BUY"),
        (order(outcome="SIDEWAYS"), "expected UP or DOWN"),
        (order(outcome=None), "outcome is missing"),
        (order(time_in_force="IOC"), "time_in_force 'IOC'"),
        (order(time_in_force="GTD"), "GTD needs ttl_s"),
        (order(ttl_s=1.5), "ttl_s 1.5"),
        (order(note="x"), "unknown key(s) 'note' for a order"),
        (order(reason="x" * 501), "reason is 501 characters long"),
    ],
)
def test_each_bad_field_is_rejected_with_a_reason(item: dict[str, Any], reason: str) -> None:
    with pytest.raises(InboxRejected) as caught:
        parse(item)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_schemas_refuse_what_the_bot_refuses() -> None:
    assert problems("inbox_forecast", forecast(confidence=1))
    assert problems("inbox_forecast", forecast(probability=1.5))
    assert problems("inbox_order", order(shares=5))
    assert problems("inbox_order", order(limit_price=1))


def entry(data: bytes, mtime_ms: int = NOW - 10_000) -> Entry:
    return Entry("x.json", data=data, mtime_ms=mtime_ms)


def test_decode_refuses_binary_and_waits_for_a_fresh_half_file() -> None:
    with pytest.raises(InboxRejected, match="binary"):
        inbox.decode(entry(b'{"a":\x00}'), NOW)
    with pytest.raises(InboxRejected, match="not UTF-8"):
        inbox.decode(entry(b'{"a": "\xff"}'), NOW)
    assert inbox.decode(entry(b'{"kind": "fore', mtime_ms=NOW - 100), NOW) is None  # maybe still written
    with pytest.raises(InboxRejected, match="not valid JSON"):
        inbox.decode(entry(b'{"kind": "fore'), NOW)
    with pytest.raises(InboxRejected, match="found a string"):
        inbox.decode(entry(b'"forecast"'), NOW)
    assert inbox.decode(entry(b'{"kind": "forecast"}'), NOW) == {"kind": "forecast"}


def test_pending_skips_temporary_names_and_refuses_what_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / ".a.json.tmp").write_text("{}")
    (tmp_path / ".b").write_text("{}")
    (tmp_path / "c.json.tmp").write_text("{}")
    (tmp_path / "README.md").write_text("docs")
    (tmp_path / layout.INBOX_DONE).mkdir()
    (tmp_path / "ok.json").write_text("{}")
    (tmp_path / "big.json").write_bytes(b" " * (inbox.MAX_BYTES + 1))
    (tmp_path / "dir.json").mkdir()
    os.mkfifo(tmp_path / "fifo.json")
    os.symlink(tmp_path / "ok.json", tmp_path / "link.json")
    (tmp_path / "notes.txt").write_text("x")
    long_name = "forecast-" + "x" * 200 + ".json"
    (tmp_path / long_name).write_text("{}")
    entries, more = inbox.pending(tmp_path, NOW, limit=100)
    seen = {e.name: e for e in entries}
    assert set(seen) == {"ok.json", "big.json", "dir.json", "fifo.json", "link.json", "notes.txt", long_name}
    assert seen[long_name].data == b"{}"
    assert not seen[long_name].refused
    assert more == 0
    assert seen["ok.json"].data == b"{}"
    assert not seen["ok.json"].refused
    assert "larger than the 16384 allowed" in seen["big.json"].refused
    assert "directory" in seen["dir.json"].refused
    assert "FIFO" in seen["fifo.json"].refused
    assert "symbolic link" in seen["link.json"].refused
    assert "not a .json file" in seen["notes.txt"].refused
    first, more = inbox.pending(tmp_path, NOW, limit=2)
    assert len(first) == 2
    assert more == 5


def test_settle_moves_the_file_and_keeps_a_reused_name_apart(tmp_path: Path) -> None:
    done = tmp_path / layout.INBOX_DONE
    for n in (1, 2):
        (tmp_path / "a.json").write_text(json.dumps({"n": n}))
        ack = inbox.answer(
            file="a.json",
            kind="forecast",
            accepted=n == 1,
            reason="" if n == 1 else "bad",
            source="agent",
            market_id="",
            inbox_id=n,
            received_ms=NOW,
            answered_ms=NOW + 2,
        )
        inbox.settle(tmp_path, done, "a.json", ack)
    assert not (tmp_path / "a.json").exists()
    assert json.loads((done / "a.json").read_text()) == {"n": 1}
    assert json.loads((done / "a~2.json").read_text()) == {"n": 2}
    first = json.loads((done / "a.accepted.json").read_text())
    second = json.loads((done / "a~2.rejected.json").read_text())
    assert first["stored_as"] == "inbox/done/a.json"
    assert second["reason"] == "bad"
    assert_valid("inbox_ack", first)
    assert_valid("inbox_ack", second)


def live(p_up: int, until: int, source: str = "agent") -> Forecast:
    return Forecast("BTC-1", p_up, until, source, "", NOW, "f.json")


def test_forecasts_expire_and_are_forgotten_with_their_market() -> None:
    clock = [NOW]
    held = Forecasts(lambda: clock[0])
    assert not held
    assert held.live("BTC-1") == ()
    held.add(live(600_000, NOW + 1000))
    held.add(live(700_000, NOW + 5000))
    assert [f.p_up for f in held.live("BTC-1")] == [600_000, 700_000]
    clock[0] = NOW + 1000
    assert [f.p_up for f in held.live("BTC-1")] == [700_000]
    held.forget("BTC-1")
    assert held.live("BTC-1") == ()
    assert not held


def window(forecasts: tuple[Forecast, ...], ask: int = 500_000, entries: int = 0) -> WindowState:
    book = BookTick(NOW, "BTC-1", ask - 10_000, 100 * ONE, ask, 100 * ONE)
    return WindowState(MARKET, book, NOW, {}, 0, entries, 240.0, forecasts)


def test_the_forecast_strategy_buys_the_side_the_newest_forecast_favours() -> None:
    (strategy,) = build_strategies(("forecast",), {"forecast": {"min_edge": 0.05}})
    assert strategy.evaluate(window(())) is None
    up = strategy.evaluate(window((live(200_000, NOW + 9000), live(620_000, NOW + 9000, "second"))))
    assert up is not None
    assert up.outcome is Outcome.UP
    assert up.price == 500_000
    assert up.edge == 120_000
    assert up.strategy == "forecast"
    assert "forecast by second 0.620" in up.reason
    down = strategy.evaluate(window((live(300_000, NOW + 9000),)))
    assert down is not None
    assert down.outcome is Outcome.DOWN
    assert down.edge == 190_000
    assert strategy.evaluate(window((live(530_000, NOW + 9000),))) is None  # 0.03: below min_edge
    assert strategy.evaluate(window((live(900_000, NOW + 9000),), entries=1)) is None  # once per window
