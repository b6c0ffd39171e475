"""The tape: write -> read round trips, the line format, crash safety and rejected files."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.feeds.tape import DataError, TapeReader, TapeWriter, read_tape
from bot.model import ONE, BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved

REPO = Path(__file__).resolve().parents[2]
T0 = 1_763_780_000_000
MARKET = Market(
    market_id="btc-updown-15m-1763780000",
    instrument="BTC",
    name="Bitcoin up or down, 03:00-03:15 UTC",
    window_start_ms=T0,
    window_end_ms=T0 + 900_000,
    strike=97_123.45,
    tick=10_000,
    min_size=5 * ONE,
    fee_rate_ppm=20_000,
    fee_exponent=2,
    token_ids=("111", "222"),
)


def sample_events(n_ticks: int = 50) -> list[MarketEvent]:
    events: list[MarketEvent] = [WindowOpened(T0, MARKET)]
    for i in range(n_ticks):
        bid = 100_000 + (i % 80) * 10_000
        events.append(
            BookTick(
                T0 + 100 * i,
                MARKET.market_id,
                bid,
                (i + 1) * 1_500_000,
                bid + 10_000,
                7 * ONE + i,
                None if i % 3 == 0 else 500_000 + i,
                None if i % 4 == 0 else 97_000.0 + i / 7,
            )
        )
    events.append(WindowResolved(T0 + 900_000, MARKET.market_id, Outcome.DOWN, 97_001.5))
    return events


def write_tape(path: Path, events: list[MarketEvent], **kwargs: object) -> None:
    with TapeWriter(path, source="test", **kwargs) as tape:  # type: ignore[arg-type]
        for event in events:
            tape.write(event)


def raw_lines(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rb") as f:
        return [orjson.loads(line) for line in f]


# ---------------------------------------------------------------------------
# round trip and line format


def test_round_trip_gives_equal_events(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl.gz"
    events = sample_events()
    write_tape(path, events)
    reader = read_tape(path)
    assert list(reader) == events
    assert not reader.truncated
    assert reader.malformed_total == 0
    assert reader.lines == len(events) + 1
    assert [h["source"] for h in reader.headers] == ["test"]


def test_read_book_ticks_have_every_field_as_the_constructor_sets_it(tmp_path: Path) -> None:
    """The reader decodes a book line straight into a BookTick (msgspec, for speed): every
    field, fair_info (not compared by ==) included, must be what BookTick(...) gives."""
    path = tmp_path / "tape.jsonl.gz"
    events = sample_events(20)
    write_tape(path, events)
    got = [e for e in read_tape(path) if type(e) is BookTick]
    want = [e for e in events if type(e) is BookTick]
    names = [f.name for f in msgspec.structs.fields(BookTick)]
    assert "fair_info" in names
    assert len(got) == len(want) == 20
    for a, b in zip(got, want, strict=True):
        assert [getattr(a, n) for n in names] == [getattr(b, n) for n in names]


def test_lines_have_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl.gz"
    tick = BookTick(T0 + 5, MARKET.market_id, 530_000, 12_500_000, 540_000, 5 * ONE, 535_000, 97_123.5)
    write_tape(path, [WindowOpened(T0, MARKET), tick, WindowResolved(T0 + 9, MARKET.market_id, Outcome.UP)])
    header, opened, book, resolved = raw_lines(path)
    assert header["e"] == "tape"
    assert header["version"] == 1
    assert header["source"] == "test"
    assert isinstance(header["created"], str)
    assert header["created"].endswith("Z")
    assert opened == {
        "e": "open",
        "ts": T0,
        "market": {
            "market_id": MARKET.market_id,
            "instrument": "BTC",
            "name": MARKET.name,
            "window_start_ms": T0,
            "window_end_ms": T0 + 900_000,
            "strike": 97_123.45,
            "tick": 10_000,
            "min_size": 5 * ONE,
            "fee_rate_ppm": 20_000,
            "fee_exponent": 2,
            "token_ids": ["111", "222"],
            "slug": "",
        },
    }
    assert book == {
        "e": "book",
        "ts": T0 + 5,
        "m": MARKET.market_id,
        "b": 530_000,
        "bs": 12_500_000,
        "a": 540_000,
        "as": 5 * ONE,
        "f": 535_000,
        "u": 97_123.5,
    }
    assert resolved == {"e": "resolve", "ts": T0 + 9, "m": MARKET.market_id, "o": "UP", "u": None}


market_ids = st.text(min_size=1, max_size=12)
book_ticks = st.builds(
    BookTick,
    ts_ms=st.integers(0, 2**53),
    market_id=market_ids,
    bid=st.integers(0, ONE),
    bid_size=st.integers(0, 10**15),
    ask=st.integers(0, ONE),
    ask_size=st.integers(0, 10**15),
    fair_forecast=st.none() | st.integers(0, ONE),
    underlying=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ticks=st.lists(book_ticks, max_size=20))
def test_round_trip_of_any_book_ticks(tmp_path: Path, ticks: list[BookTick]) -> None:
    path = tmp_path / "any.jsonl.gz"
    path.unlink(missing_ok=True)
    write_tape(path, list(ticks))
    reader = read_tape(path)
    assert list(reader) == [t for t in ticks if t.bid < t.ask]
    # a crossed book is a malformed line, with its line number (line 1 is the header)
    crossed = [
        (i, f"crossed book: bid {t.bid} >= ask {t.ask}") for i, t in enumerate(ticks, 2) if t.bid >= t.ask
    ]
    assert reader.malformed == crossed
    assert reader.malformed_total == len(crossed)


def test_unusual_values_take_the_orjson_path_and_survive(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl.gz"
    odd = [
        BookTick(T0, 'quote"and\\back\nslash é', 1, 2, 3, 4, None, 97_000),  # int underlying
        BookTick(T0, "m", 1, 2, 3, 4, None, 1e-7),
        BookTick(T0, "m", 1, 2, 3, 4, None, -0.0),
    ]
    write_tape(path, odd)  # type: ignore[arg-type]
    assert list(read_tape(path)) == odd
    nan_tick = BookTick(T0, "m", 1, 2, 3, 4, None, float("nan"))
    write_tape(tmp_path / "nan.jsonl.gz", [nan_tick])
    (back,) = read_tape(tmp_path / "nan.jsonl.gz")
    assert isinstance(back, BookTick)
    assert back.underlying is None


def test_writer_rejects_non_events_and_writes_after_close(tmp_path: Path) -> None:
    tape = TapeWriter(tmp_path / "t.jsonl.gz")
    with pytest.raises(TypeError, match="not a market event"):
        tape.write("hello")  # type: ignore[arg-type]
    tape.close()
    tape.close()  # idempotent
    assert tape.closed
    with pytest.raises(ValueError, match="closed"):
        tape.write(sample_events(1)[1])


def test_plain_uncompressed_tape_is_readable(tmp_path: Path) -> None:
    gz = tmp_path / "t.jsonl.gz"
    events = sample_events(5)
    write_tape(gz, events)
    plain = tmp_path / "t.jsonl"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    assert list(read_tape(plain)) == events


# ---------------------------------------------------------------------------
# appending and crash safety


def test_appending_adds_a_gzip_member_with_a_new_header(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    first, second = sample_events(10), sample_events(3)
    write_tape(path, first)
    write_tape(path, second)
    reader = read_tape(path)
    assert list(reader) == first + second
    assert len(reader.headers) == 2
    assert not reader.truncated


def test_everything_flushed_is_readable_while_the_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    events = sample_events(30)
    tape = TapeWriter(path, flush_interval_s=3600, flush_every=10)
    for event in events[:25]:
        tape.write(event)
    snapshot = tmp_path / "snapshot.jsonl.gz"
    snapshot.write_bytes(path.read_bytes())  # what a kill -9 right now would leave
    reader = read_tape(snapshot)
    assert list(reader) == events[:20]  # flushed after 10 and 20 events (header not counted)
    assert reader.truncated
    assert "ends early" in reader.problem
    tape.flush()
    snapshot.write_bytes(path.read_bytes())
    assert list(read_tape(snapshot)) == events[:25]
    tape.close()


def test_time_based_flush_and_maybe_flush(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    events = sample_events(5)
    tape = TapeWriter(path, flush_interval_s=0.0)  # every write is due for a flush
    for event in events:
        tape.write(event)
    assert list(read_tape(path)) == events
    tape.close()
    lazy = TapeWriter(tmp_path / "lazy.jsonl.gz", flush_interval_s=3600)
    lazy.write(events[0])
    lazy.maybe_flush()  # not due yet
    assert list(read_tape(lazy.path)) == []
    lazy.flush()
    assert list(read_tape(lazy.path)) == events[:1]
    lazy.close()


def test_a_truncated_tape_reads_a_prefix_at_every_cut(tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl.gz"
    events = sample_events(200)
    write_tape(full, events, flush_every=7)
    data = full.read_bytes()
    header_end = len(data) // 20  # past the first flush of the header line
    cut_path = tmp_path / "cut.jsonl.gz"
    seen = set()
    for cut in range(header_end, len(data), 37):
        cut_path.write_bytes(data[:cut])
        reader = read_tape(cut_path)
        got = list(reader)
        assert got == events[: len(got)]
        assert reader.truncated
        seen.add(len(got))
    assert len(seen) > 10  # the cuts did land in many different places


def test_garbage_after_a_complete_tape_stops_reading_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    events = sample_events(5)
    write_tape(path, events)
    with open(path, "ab") as f:
        f.write(b"\x00" * 4096)  # what a file system can leave after a power cut
    reader = read_tape(path)
    assert list(reader) == events
    assert reader.truncated
    assert "corrupt" in reader.problem


def test_zlib_ng_and_zlib_read_damaged_tapes_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader inflates with zlib-ng when installed (faster), else zlib: the same events,
    the same truncation and the same problem text for cut, corrupted and padded tapes."""
    import zlib

    from bot.feeds import tape_file

    zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")
    full = tmp_path / "full.jsonl.gz"
    write_tape(full, sample_events(200), flush_every=7)
    data = full.read_bytes()
    damaged = [data, data + b"\x00" * 64, data + data, data[: len(data) // 2]]
    damaged += [data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :] for i in range(40, len(data), 97)]
    path = tmp_path / "d.jsonl.gz"
    outcomes = set()
    for content in damaged:
        path.write_bytes(content)
        seen = []
        for lib in (zlib, zlib_ng):
            monkeypatch.setattr(tape_file, "_inflate_lib", lib)
            try:
                reader = read_tape(path)
                seen.append((list(reader), reader.truncated, reader.problem, reader.malformed_total))
            except DataError as exc:  # the header's member itself damaged
                seen.append(([], True, str(exc), 0))
        assert seen[0] == seen[1]
        outcomes.add(seen[0][2])
    assert len(outcomes) > 3  # clean, ends early and several kinds of corrupt data were met


def test_writer_killed_for_real_leaves_a_readable_tape(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl.gz"
    child = f"""
import sys, time
from bot.feeds.tape import TapeWriter
from bot.model import BookTick
tape = TapeWriter({str(path)!r}, flush_every=100, flush_interval_s=3600)
for i in range(250):
    tape.write(BookTick({T0} + i, "m", 500000, 1000000, 510000, 1000000))
print("ready", flush=True)
time.sleep(60)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    reader = read_tape(path)
    got = list(reader)
    assert [e.ts_ms for e in got] == [T0 + i for i in range(200)]  # the two flushes of 100
    assert reader.truncated
    # the next writer repairs the tape before appending, so nothing written later is lost
    more = sample_events(3)
    with TapeWriter(path) as tape:
        assert tape.recovered_lines == 201  # the header and 200 events
        for event in more:
            tape.write(event)
    reader = read_tape(path)
    assert list(reader) == got + more
    assert not reader.truncated
    assert reader.headers[-1].get("recovered_after_crash") is True


def test_writer_starts_afresh_on_a_file_killed_before_its_header(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress(b"")[:10])  # a gzip header and nothing else
    write_tape(path, sample_events(2))
    assert list(read_tape(path)) == sample_events(2)


def test_writer_refuses_to_append_to_something_else(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("timestamp,best_bid\n1,2\n")
    with pytest.raises(DataError, match="not a tape"):
        TapeWriter(path)
    assert path.read_text() == "timestamp,best_bid\n1,2\n"


# ---------------------------------------------------------------------------
# bad input


def test_malformed_lines_are_skipped_and_numbered(tmp_path: Path) -> None:
    path = tmp_path / "hand.jsonl.gz"
    good = b'{"e":"book","ts":1,"m":"m","b":1,"bs":2,"a":3,"as":4,"f":null,"u":null}'
    lines = [
        b'{"e":"tape","version":1,"created":"x","source":"hand"}',
        good,
        b"{not json",
        b'{"e":"book","ts":1}',
        b'{"e":"trade","ts":1}',
        b'{"e":"resolve","ts":1,"m":"m","o":"SIDEWAYS","u":null}',
        b"",
        good,
    ]
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    reader = read_tape(path)
    assert len(list(reader)) == 2
    assert [number for number, _ in reader.malformed] == [3, 4, 5, 6, 7]
    reasons = dict(reader.malformed)
    assert "not JSON" in reasons[3]
    assert "missing key 'm'" in reasons[4]
    assert "unknown event kind 'trade'" in reasons[5]
    assert "SIDEWAYS" in reasons[6]
    assert reasons[7] == "empty line"
    assert reader.malformed_total == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"timestamp,market_id\n1,a\n", "not a tape"),
        (gzip.compress(b'{"history": []}\n', mtime=0), "not a tape"),
        (gzip.compress(b'{"e":"tape","version":2}\n', mtime=0), "version 2 is newer"),
        (gzip.compress(b'{"e":"tape"}\n', mtime=0), "no valid version"),
        (gzip.compress(b'{"e":"tape","vers', mtime=0), "no complete first line"),
        (b"\x1f\x8b\x08garbage-garbage", "corrupt gzip data"),
    ],
)
def test_files_that_are_not_tapes_are_rejected(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_tape(path)
    text = str(info.value)
    assert str(path) in text
    assert "\n" not in text
    assert "expected" in text


def test_a_later_header_of_a_newer_version_stops_reading(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    write_tape(path, sample_events(2))
    with open(path, "ab") as f:
        f.write(gzip.compress(b'{"e":"tape","version":9}\n{"e":"book","ts":1,"m":"m","b":{"px":1}}\n'))
    reader = read_tape(path)
    with pytest.raises(DataError, match="version 9 is newer"):
        list(reader)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_tape(tmp_path / "nope.jsonl.gz")
    with pytest.raises(DataError, match="not a regular file"):
        read_tape(tmp_path)


def test_reader_is_an_iterator_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    events = sample_events(3)
    write_tape(path, events)
    with read_tape(path) as reader:
        assert isinstance(reader, TapeReader)
        assert next(reader) == events[0]
        assert next(reader) == events[1]
    with pytest.raises(StopIteration):
        next(reader)
