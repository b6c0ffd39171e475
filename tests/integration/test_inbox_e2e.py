"""inbox/: forecasts and order intents handed to a real `bot run` (PAPER) as files, and its answers.

One bot serves the module (starting one per test would cost more than the tests): each test
drops its own files, in its own market where the caps could interact, and waits for the
bot's answer in inbox/done/. Every answer and every dropped file is checked against the
shipped JSON Schemas.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import inbox_client
from tests.schema_check import assert_valid
from tests.support import BotProcess, eventually, read_json

# Hour-long windows at market speed 1: a market stays open for the whole module. Only the
# forecast strategy is enabled, so every order comes from a forecast or an intent. XRP gets
# no forecast: the forecast strategy never buys it, so an intent there has its caps to itself.
CONFIG = """
heartbeat_s = 0.5
state_refresh_s = 0.2

[market]
window_s = 3600
tick_s = 1.0
instruments = ["BTC", "ETH", "SOL", "XRP"]
start_prices = [97000.0, 3100.0, 140.0, 2.2]

[strategies]
enabled = ["forecast"]

[strategies.params.forecast]
min_edge = 0.05
min_seconds_left = 5
"""


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    process = BotProcess(tmp_path_factory.mktemp("inbox-home"), CONFIG)
    process.start().wait_ready()
    yield process
    process.stop()


def until(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


def drop(home: Path, name: str, content: bytes | dict[str, Any]) -> None:
    """Write then rename, as inbox/README.md says."""
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    tmp = home / "inbox" / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, home / "inbox" / name)


def answer(home: Path, stem: str, timeout: float = 10.0) -> dict[str, Any]:
    done = home / "inbox" / "done"
    found = eventually(
        lambda: next(
            (p for p in (done / f"{stem}.accepted.json", done / f"{stem}.rejected.json") if p.exists()), None
        ),
        timeout,
    )
    data: dict[str, Any] = read_json(found)
    assert_valid("inbox_ack", data)
    assert not (home / "inbox" / f"{stem}.json").exists()  # moved away, not left behind
    return data


def signals(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "signals.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def forecast(market: str, probability: float, **extra: Any) -> dict[str, Any]:
    item = {"kind": "forecast", "market": market, "probability": probability, "valid_until": until(600)}
    return {**item, "source": "test-agent", **extra}


def order(market: str, **extra: Any) -> dict[str, Any]:
    item = {"kind": "order", "market": market, "outcome": "UP", "shares": 5, "limit_price": 0.05}
    merged = {**item, "source": "test-agent", "reason": "a test", **extra}
    return {k: v for k, v in merged.items() if v is not None}


def test_an_accepted_forecast_makes_the_forecast_strategy_trade(bot: BotProcess) -> None:
    item = forecast("BTC", 0.99, note="very sure")
    assert_valid("inbox_forecast", item)
    drop(bot.home, "f-btc.json", item)
    ack = answer(bot.home, "f-btc")
    assert ack["result"] == "accepted", ack
    market = ack["market_id"]
    assert market.startswith("BTC-")
    assert ack["forecast"]["p_up"] == 0.99
    assert (bot.home / "inbox" / "done" / "f-btc.json").exists()
    traded = eventually(
        lambda: [s for s in signals(bot.home) if s["strategy"] == "forecast" and s["executed"]]
    )
    assert traded[0]["market_id"] == market
    assert traded[0]["outcome"] == "UP"
    assert "forecast by test-agent 0.990" in traded[0]["reason"]
    block = eventually(lambda: (b := bot.trading_state()["inbox"])["live_forecasts"] and b)
    assert block["live_forecasts"][0]["market_id"] == market
    assert block["accepted"] >= 1
    with sqlite3.connect(bot.home / "state" / "bot.db") as db:
        row = db.execute("SELECT kind, source, result FROM inbox WHERE file = 'f-btc.json'").fetchone()
    assert row == ("forecast", "test-agent", "ACCEPTED")


def test_an_order_intent_is_executed_and_its_order_id_is_in_the_answer(bot: BotProcess) -> None:
    item = order("ETH", limit_price=0.05)
    assert_valid("inbox_order", item)
    drop(bot.home, "o-eth.json", item)
    ack = answer(bot.home, "o-eth")
    assert ack["result"] == "accepted", ack
    order_id = ack["order"]["order_id"]
    assert ack["order"]["shares"] == 5
    assert ack["order"]["price"] == 0.05
    with sqlite3.connect(bot.home / "state" / "bot.db") as db:
        placed = db.execute(
            "SELECT strategy, market_id FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        journaled = db.execute("SELECT order_id FROM inbox WHERE file = 'o-eth.json'").fetchone()
    assert placed == ("inbox", ack["market_id"])
    assert journaled == (order_id,)
    executed = [s for s in signals(bot.home) if s.get("order_id") == order_id]
    assert executed
    assert executed[0]["strategy"] == "inbox"
    assert "test-agent" in executed[0]["reason"]
    state = bot.trading_state()
    assert_valid("trading_state", state)


REJECTIONS = [
    ("unknown-key", forecast("BTC", 0.6, confidence=0.9), "unknown key(s) 'confidence'"),
    ("probability", forecast("BTC", 1.5), "probability 1.5 is outside [0, 1]"),
    ("expired", forecast("BTC", 0.6, valid_until="2020-01-01T00:00:00Z"), "expired: valid_until"),
    ("unknown-market", forecast("DOGE-NOT-HERE", 0.6), "unknown market 'DOGE-NOT-HERE'"),
    ("over-limit", order("SOL", shares=100, limit_price=0.5), "over max_position_usd"),
    ("sell", order("SOL", side="SELL"), "an intent can only BUY"),
    ("both-sizes", order("SOL", usd=1), "give exactly one of usd and shares"),
    ("no-kind", {"market": "BTC", "source": "x"}, "kind is missing"),
    ("bad-tick", order("SOL", limit_price=0.055), "not a valid tick price"),
    ("binary", b"\x00\x01\x02\xff", "a binary file (NUL bytes)"),
    ("huge", b'{"kind": "forecast", "note": "' + b"x" * 20_000 + b'"}', "larger than the 16384 allowed"),
    ("array", b"[1, 2, 3]", "expected a JSON object, found an array"),
]


@pytest.mark.parametrize(("stem", "content", "reason"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_each_bad_input_is_rejected_with_its_reason(
    bot: BotProcess, stem: str, content: bytes | dict[str, Any], reason: str
) -> None:
    drop(bot.home, f"{stem}.json", content)
    ack = answer(bot.home, stem)
    assert ack["result"] == "rejected", ack
    assert reason in ack["reason"], ack
    assert (bot.home / "inbox" / "done" / f"{stem}.json").exists()
    assert bot.proc is not None
    assert bot.proc.poll() is None
    # the answer comes first; trading_state.json shows it when it is next written
    eventually(lambda: (bot.trading_state()["inbox"]["last_rejected"] or {}).get("file") == f"{stem}.json")


def test_a_file_not_named_json_is_rejected_and_temporary_names_are_never_read(bot: BotProcess) -> None:
    (bot.home / "inbox" / "notes.txt").write_text("hello")
    (bot.home / "inbox" / ".half.json").write_text('{"kind": "forecast"')
    (bot.home / "inbox" / "half.json.tmp").write_text('{"kind": "forecast"')
    ack = answer(bot.home, "notes.txt")
    assert ack["result"] == "rejected"
    assert "not a .json file" in ack["reason"]
    drop(bot.home, "after-temp.json", forecast("ETH", 0.5))
    assert answer(bot.home, "after-temp")["result"] == "accepted"
    assert (bot.home / "inbox" / ".half.json").exists()
    assert (bot.home / "inbox" / "half.json.tmp").exists()


def test_a_file_still_being_written_in_place_is_read_only_once_whole(bot: BotProcess) -> None:
    path = bot.home / "inbox" / "slow.json"
    text = json.dumps(forecast("ETH", 0.4))
    with open(path, "w") as fh:
        fh.write(text[:20])
        fh.flush()
        time.sleep(0.3)  # the bot sees half a file meanwhile: it must wait, not reject it
        fh.write(text[20:])
    ack = answer(bot.home, "slow")
    assert ack["result"] == "accepted", ack


def test_an_intent_during_pause_is_rejected_and_accepted_after_resume(bot: BotProcess) -> None:
    bot.touch("PAUSE")
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")
    drop(bot.home, "o-paused.json", order("BTC", outcome="DOWN", limit_price=0.06))
    ack = answer(bot.home, "o-paused")
    assert ack["result"] == "rejected", ack
    assert "PAUSE" in ack["reason"], ack
    (bot.home / "controls" / "PAUSE").unlink()
    eventually(lambda: bot.status()["trading_state"] == "ACTIVE")
    drop(bot.home, "o-resumed.json", order("BTC", outcome="DOWN", limit_price=0.06))
    assert answer(bot.home, "o-resumed")["result"] == "accepted"


def test_a_flood_is_answered_in_full_and_never_past_the_caps(bot: BotProcess) -> None:
    names = [f"flood-{i:02d}" for i in range(40)]
    for name in names:  # order intents for one market: max_orders_per_window is 2
        drop(bot.home, f"{name}.json", order("SOL", limit_price=0.05, usd=0.5, shares=None))
    answers = [answer(bot.home, name, 30) for name in names]
    accepted = [a for a in answers if a["result"] == "accepted"]
    assert len(accepted) == 2, [a["reason"] for a in answers]
    assert all("risk.max_orders_per_window" in a["reason"] for a in answers if a["result"] == "rejected")
    with sqlite3.connect(bot.home / "state" / "bot.db") as db:
        rows = db.execute("SELECT COUNT(*) FROM inbox WHERE file LIKE 'flood-%'").fetchone()[0]
    assert rows == len(names)
    assert list((bot.home / "inbox").glob("flood-*")) == []


def test_the_client_helper_and_a_reused_name(bot: BotProcess) -> None:
    first = inbox_client.submit(bot.home, forecast("ETH", 0.45), name="again")
    assert first["result"] == "accepted"
    assert first["stored_as"] == "inbox/done/again.json"
    with pytest.raises(inbox_client.InboxClientError, match="already answered"):
        inbox_client.submit(bot.home, forecast("ETH", 0.46), name="again")
    drop(bot.home, "again.json", forecast("ETH", 0.47))  # a name used before: kept apart
    assert answer(bot.home, "again~2")["stored_as"] == "inbox/done/again~2.json"
    assert read_json(bot.home / "inbox" / "done" / "again.json")["probability"] == 0.45
    fresh = inbox_client.submit(bot.home, order("ETH", shares=None, usd=0.0001))
    assert fresh["result"] == "rejected"
    assert "buys no whole hundredth" in fresh["reason"]
    latest = inbox_client.answers(bot.home, 3)
    assert latest[0]["file"] == fresh["file"]


def test_a_file_answered_before_the_bot_stopped_is_answered_again_never_acted_on_twice(
    bot: BotProcess,
) -> None:
    # XRP: the ETH forecasts above may have filled ETH's position up to max_position_usd
    drop(bot.home, "o-once.json", order("XRP", outcome="DOWN", limit_price=0.04))
    first = answer(bot.home, "o-once")
    assert first["result"] == "accepted", first.get("reason")
    bot.stop()
    # as if the bot had stopped between its journal commit and the move into done/
    done = bot.home / "inbox" / "done"
    os.rename(done / "o-once.json", bot.home / "inbox" / "o-once.json")
    (done / "o-once.accepted.json").unlink()
    bot.start().wait_ready()
    again = answer(bot.home, "o-once")
    assert again["result"] == "accepted"
    assert again["inbox_id"] == first["inbox_id"]
    assert again["order"]["order_id"] == first["order"]["order_id"]
    with sqlite3.connect(bot.home / "state" / "bot.db") as db:
        placed = db.execute(
            "SELECT COUNT(*) FROM orders WHERE strategy = 'inbox' AND price_micros = 40000"
        ).fetchone()
        rows = db.execute("SELECT COUNT(*) FROM inbox WHERE file = 'o-once.json'").fetchone()
    assert placed == (1,)
    assert rows == (1,)
    # the forecasts still live came back from the journal
    live = eventually(lambda: bot.trading_state()["inbox"]["live_forecasts"])
    assert "f-btc.json" in {f["file"] for f in live}


def test_a_name_that_is_not_utf8_is_rejected_and_shown_escaped(bot: BotProcess) -> None:
    folder = os.fsencode(bot.home / "inbox")
    with open(os.path.join(folder, b"bad\xff\n.json"), "wb") as fh:
        fh.write(json.dumps(forecast("BTC", 0.5)).encode())
    done = os.path.join(folder, b"done")
    ack_path = eventually(lambda: os.path.exists(os.path.join(done, b"bad\xff\n.rejected.json")) and done)
    data = json.loads(Path(os.fsdecode(os.path.join(ack_path, b"bad\xff\n.rejected.json"))).read_text())
    assert data["result"] == "rejected"
    assert "not printable UTF-8" in data["reason"]
    assert data["file"] == "bad\\xff\\n.json"
    assert_valid("inbox_ack", data)
    assert bot.proc is not None
    assert bot.proc.poll() is None
