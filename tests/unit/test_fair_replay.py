"""The fair-value model's inputs on a tape (bot/feeds/tape_inputs.py) and their replay
(bot/feeds/fair_replay.py): what the live feed attached to each tick comes back the same."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from bot.fairvalue import MODEL, FairState, FairValue, ModelInput, Priced, PriceInput, StrikeInput
from bot.feeds import price_wire as pw
from bot.feeds.fair_feed import FairValueFeed
from bot.feeds.fair_replay import FairReplay
from bot.feeds.price_socket import PriceSocket
from bot.feeds.replay import RecordingFeed
from bot.feeds.tape import TapeReader, TapeWriter
from bot.model import BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved, now_ms

START = now_ms() - 10_000
INPUTS = [
    ModelInput(5, MODEL, 0.0001, 300.0),
    PriceInput(6, "polybolt:btcusd", 4, 100_000.25),
    StrikeInput(7, "0xm", "polybolt:btcusd", 1_000, 301_000, 100_000.0, "feed"),
    FairState(8, "0xm", "no BTC (polybolt btcusd) price yet"),
    FairState(9, "0xm", None),
]


def _book(ts: int, market: str = "0xm") -> BookTick:
    return BookTick(ts, market, 450_000, 100_000_000, 470_000, 100_000_000)


def test_inputs_round_trip_in_file_order_beside_the_events(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    with TapeWriter(path) as tape:
        tape.write(INPUTS[0])
        tape.write(INPUTS[1])
        tape.write(_book(10))
        for line in INPUTS[2:]:
            tape.write(line)
        tape.write(_book(11))
    reader = TapeReader(path, inputs=True)
    seen: list[tuple[MarketEvent, list[object]]] = []
    for event in reader:
        seen.append((event, list(reader.inputs)))
        reader.inputs.clear()
    assert [(e.ts_ms, i) for e, i in seen] == [(10, INPUTS[:2]), (11, INPUTS[2:])]
    assert reader.input_lines == len(INPUTS)
    assert reader.malformed_total == 0


def test_a_reader_that_does_not_ask_skips_them(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    with TapeWriter(path) as tape:
        for line in INPUTS:
            tape.write(line)
        tape.write(_book(10))
    reader = TapeReader(path)
    assert [e.ts_ms for e in reader] == [10]
    assert reader.inputs == []
    assert reader.input_lines == len(INPUTS)
    assert reader.malformed_total == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ({"e": "price", "ts": 1, "k": "polybolt:btcusd", "t": 1, "p": -3}, "p must be a positive number"),
        ({"e": "price", "ts": 1, "k": "polybolt:btcusd", "t": 1}, "missing key 'p'"),
        (
            {"e": "strike", "ts": 1, "m": "0xm", "k": "", "start": 0, "end": 1, "s": 1.0, "from": "feed"},
            "k must",
        ),
        ({"e": "fair", "ts": "soon", "m": "0xm", "why": None}, "ts must be a non-negative integer"),
        ({"e": "fair", "ts": 1, "m": "0xm", "why": 5}, "why must be text or null"),
        ({"e": "model", "ts": 1, "name": MODEL, "sigma": 0, "half_life_s": 300}, "sigma must"),
    ],
)
def test_a_malformed_input_line_is_numbered_and_skipped(
    tmp_path: Path, line: dict[str, object], reason: str
) -> None:
    path = tmp_path / "t.jsonl"
    header = {"e": "tape", "version": 1, "created": "2026-12-03T00:00:00.000Z", "source": "test"}
    book = orjson.loads(orjson.dumps({"e": "book", "ts": 10, "m": "0xm", "b": 1, "bs": 1, "a": 2, "as": 1}))
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in (header, line, book)) + b"\n")
    reader = TapeReader(path, inputs=True)
    assert [e.ts_ms for e in reader] == [10]
    assert reader.inputs == []
    [(number, why)] = reader.malformed
    assert number == 2
    assert reason in why


class ListFeed:
    def __init__(self) -> None:
        self.pending: list[MarketEvent] = []

    def peek_ms(self) -> int | None:
        return now_ms() + 10_000

    def next_batch(self) -> list[MarketEvent]:
        out, self.pending = self.pending, []
        return out


def test_the_replay_attaches_what_the_live_feed_attached(tmp_path: Path) -> None:
    """A live feed recorded through RecordingFeed; the tape replayed: the same quote, inputs,
    price age and reasons on every tick, a stale price and a resolution included."""
    inner = ListFeed()
    delivers = {}

    def connect(source: str, deliver: object) -> PriceSocket:
        delivers[source] = deliver
        return PriceSocket(source, "ws://127.0.0.1:9/ws", deliver)  # type: ignore[arg-type]

    clock = [START + 20_000]
    live = FairValueFeed(inner, connect, FairValue(0.0001), lambda: None, lambda: clock[0], stale_s=3600)
    market = Market("0xm", "BTC", "Bitcoin Up or Down", START, START + 300_000, token_ids=("1", "2"))
    other = Market("0xo", "NFL", "Who wins?", START, START + 300_000, token_ids=("3", "4"))
    path = tmp_path / "live.jsonl.gz"
    attached: list[tuple[int, str, object]] = []
    with TapeWriter(path) as tape:
        recording = RecordingFeed(live, tape)

        def batch(events: list[MarketEvent]) -> None:
            inner.pending = events
            for event in recording.next_batch():
                if type(event) is BookTick:
                    attached.append((event.ts_ms, event.market_id, _record(event)))
            clock[0] += 1_000

        batch(
            [
                WindowOpened(clock[0], market),
                WindowOpened(clock[0], other),
                _book(clock[0]),
                _book(clock[0], "0xo"),
            ]
        )
        delivers["polybolt"]([pw.PricePoint("btcusd", START + 1_000, 100.0, snapshot=True)])
        batch([_book(clock[0])])
        for i in range(40):  # enough prices for the measured volatility to take over
            delivers["polybolt"]([pw.PricePoint("btcusd", START + 2_000 + i * 100, 100.0 + (i % 3) * 0.01)])
            batch([_book(clock[0]), _book(clock[0], "0xo")])
        live.stale_ms = -1  # the feed goes silent: no fair value, with the reason
        batch([_book(clock[0])])
        batch([WindowResolved(clock[0], "0xm", Outcome.UP), _book(clock[0], "0xo")])
    reader = TapeReader(path, inputs=True)
    replay = FairReplay()
    replayed = []
    for event in reader:
        if reader.inputs:
            replay.take(reader.inputs)
            reader.inputs.clear()
        if type(event) is BookTick:
            replay.price(event)
            replayed.append((event.ts_ms, event.market_id, _record(event)))
        elif type(event) is WindowResolved:
            replay.forget(event.market_id)
    assert replayed == attached
    priced = [r[0] for _, _, r in attached if isinstance(r, tuple)]
    assert len(priced) >= 40
    assert priced[-1]["volatility_per_sqrt_s"] != 0.0001
    assert priced[-1]["strike"] == 100.0
    assert any(isinstance(r, str) and "silent" in r for _, _, r in attached)
    assert all(r is None for _, m, r in attached if m == "0xo")
    assert replay.priced == len(priced)


def _record(tick: BookTick) -> object:
    info = tick.fair_info
    return (info.record(tick.ts_ms), tick.fair_forecast) if isinstance(info, Priced) else info


def test_the_tape_is_a_gzip_jsonl_file_with_the_documented_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    with TapeWriter(path) as tape:
        for line in INPUTS:
            tape.write(line)
    lines = [orjson.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()[1:]]
    assert lines[0] == {"e": "model", "ts": 5, "name": MODEL, "sigma": 0.0001, "half_life_s": 300.0}
    assert lines[1] == {"e": "price", "ts": 6, "k": "polybolt:btcusd", "t": 4, "p": 100_000.25}
    assert lines[2] == {
        "e": "strike",
        "ts": 7,
        "m": "0xm",
        "k": "polybolt:btcusd",
        "start": 1_000,
        "end": 301_000,
        "s": 100_000.0,
        "from": "feed",
    }
    assert lines[3] == {"e": "fair", "ts": 8, "m": "0xm", "why": "no BTC (polybolt btcusd) price yet"}
