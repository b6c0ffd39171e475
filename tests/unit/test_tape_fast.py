"""The reader's msgspec fast path (bot/feeds/tape.py) gives exactly what orjson's path gives:
the same events (values and their types), the same malformed lines and messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.feeds import tape

HEADER = b'{"e":"tape","version":1,"created":"2026-12-03T00:00:00.000Z","source":"test"}\n'
BOOK = {"e": "book", "ts": 1_800_000_000_000, "m": "M1", "b": 400_000, "bs": 5_000_000}
BOOK |= {"a": 410_000, "as": 7_000_000, "f": 405_000, "u": 97_000.5}
# a plain tape's first read is 256 KiB: these push the lines under test into later chunks,
# the ones the fast path reads (the header's chunk always goes to orjson)
FILLER = orjson.dumps(BOOK) + b"\n"
PAD = FILLER * (300_000 // len(FILLER))
MARKET = {"market_id": "M1", "instrument": "BTC", "name": "n", "window_start_ms": 1, "window_end_ms": 2}
MARKET |= {"strike": 1.5, "tick": 10_000, "min_size": 1, "fee_rate_ppm": 0, "fee_exponent": 1}

ODD = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 999_999, 1_000_000, 1_000_001, 2**63 - 1, 2**63, 2**64 - 1, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.just([1]),
)


@st.composite
def lines(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["book", "book", "book", "open", "resolve", "junk"]))
    if kind == "junk":
        return draw(
            st.sampled_from([b"", b"{", b'{"e":"nope"}', b"[1]", b"null", b'{"e":"tape","version":1}'])
        )
    base: dict[str, Any] = dict(BOOK)
    if kind == "open":
        base = {"e": "open", "ts": 1_800_000_000_000, "market": dict(MARKET)}
    elif kind == "resolve":
        base = {"e": "resolve", "ts": 1_800_000_000_001, "m": "M1", "o": "UP", "u": 1.0}
    obj = dict(base)
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3)):
        if draw(st.booleans()):
            obj.pop(key, None)
        else:
            obj[key] = draw(ODD)
    if draw(st.booleans()):  # a key no line has, or BookTick's field that no line may set
        obj[draw(st.sampled_from(["extra", "fair_info"]))] = draw(ODD)
    items = list(obj.items())
    if draw(st.booleans()):
        items.reverse()
    return b"{" + b",".join(orjson.dumps(k) + b":" + _big(v) for k, v in items) + b"}"


def _big(v: Any) -> bytes:
    return str(v).encode() if type(v) is int else orjson.dumps(v)  # ints wider than 64 bits too


def read_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen = []
    for fast in (tape._FAST_DECODE, None):
        monkeypatch.setattr(tape, "_FAST_DECODE", fast)
        reader = tape.read_tape(path)
        events = [(repr(e), [type(getattr(e, f)) for f in getattr(e, "__slots__", ())]) for e in reader]
        seen.append((events, reader.malformed, reader.malformed_total, reader.lines, reader.line_no))
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines(), min_size=1, max_size=8))
def test_fast_and_orjson_paths_read_any_lines_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: list[bytes]
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(HEADER + PAD + b"\n".join(body) + b"\n")
    fast, slow = read_both(path, monkeypatch)
    assert fast == slow


def test_a_clean_chunk_takes_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    decode = tape._FAST_DECODE

    def counted(data: bytes) -> Any:
        out = decode(data)
        calls.append(len(out))
        return out

    monkeypatch.setattr(tape, "_FAST_DECODE", counted)
    path = tmp_path / "t.jsonl"
    opened = orjson.dumps({"e": "open", "ts": 1, "market": MARKET})
    path.write_bytes(HEADER + PAD + opened + b"\n" + PAD)
    events = list(tape.read_tape(path))
    assert calls
    assert sum(calls) > len(PAD) // len(FILLER)
    fast, slow = read_both(path, monkeypatch)
    assert fast == slow
    assert len(events) == len(fast[0]) == 2 * (len(PAD) // len(FILLER)) + 1


@pytest.mark.parametrize(
    ("tail", "bad"),
    [
        (FILLER[:-1] + b"," + FILLER, "not JSON"),  # two lines' worth on one line: never two events
        (b"\n" + FILLER, "empty line"),
        (b" \n" + FILLER, "empty line"),
        (b'{"e":"open","ts":1,"market":' + orjson.dumps(MARKET | {"name": "x" * 400_000}) + b"}\n", ""),
        (FILLER, ""),
    ],
)
def test_lines_across_reads_keep_their_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: bytes, bad: str
) -> None:
    """A chunk's lines are framed into one JSON array from the bytes of two reads: a line cut
    by a read, a line longer than a read, a line holding two values, a blank line, a last line
    without a newline: both paths give the same events, lines and line numbers."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(HEADER + PAD + tail + PAD + tail + FILLER[:-1])
    fast, slow = read_both(path, monkeypatch)
    assert fast == slow
    events, malformed, total, lines, line_no = fast
    pad = len(PAD) // len(FILLER)
    assert lines == line_no == 1 + 2 * pad + 2 * tail.count(b"\n") + 1
    if bad:
        assert [n for n, _ in malformed] == [2 + pad, 2 + 2 * pad + tail.count(b"\n")]
        assert all(why.startswith(bad) for _, why in malformed)
    else:
        assert total == 0
    assert len(events) == lines - 1 - total
