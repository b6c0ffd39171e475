"""A tape read a chunk at a time (`TapeReader.chunks()`, what a backtest reads) gives what
reading it event by event gives: the same events in the same order, the same malformed
lines with their line numbers, the same counts, truncation and errors."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fairvalue import ModelInput, PriceInput
from bot.feeds import tape
from bot.feeds.tape import DataError, TapeReader, TapeWriter
from bot.model import BookTick
from tests.unit.test_tape_fast import FILLER, HEADER, PAD, lines


def _state(reader: TapeReader) -> tuple[Any, ...]:
    return (reader.malformed, reader.malformed_total, reader.lines, reader.headers, reader.truncated)


def read_both_ways(path: Path, *, inputs: bool = False) -> tuple[list[Any], list[Any]]:
    """(events of an event-by-event read with each one's inputs before it, ... of chunks());
    each list ends with the reader's counts."""
    by_event = TapeReader(path, inputs=inputs)
    flat: list[Any] = []
    for event in by_event:
        flat += by_event.inputs
        by_event.inputs.clear()
        flat.append(event)
    by_chunk = TapeReader(path, inputs=inputs)
    lists = list(by_chunk.chunks())
    assert all(lists), "no empty list"
    chunked = [event for chunk in lists for event in chunk]
    if chunked and inputs:  # inputs after the last event: left in `inputs` by an event-by-event read
        flat += by_event.inputs
    return [*flat, _state(by_event)], [*chunked, _state(by_chunk)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines(), min_size=1, max_size=8), st.integers(0, 3), st.booleans())
def test_chunks_read_any_lines_as_an_event_by_event_read_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: list[bytes], where: int, fast: bool
) -> None:
    if not fast:
        monkeypatch.setattr(tape, "_FAST_DECODE", None)  # orjson's path
    path = tmp_path / "t.jsonl"
    # the lines under test in the first chunk, in the middle of the second, across the two
    # chunks' boundary (a plain tape is read 256 KiB at a time), or at the end
    half = PAD[: len(PAD) // 2 // len(FILLER) * len(FILLER)]
    lines_ = b"\n".join(body) + b"\n"
    parts = [
        HEADER + lines_ + PAD,
        HEADER + PAD + half + lines_ + half,
        HEADER + PAD[: 262_144 - len(HEADER) - 40] + lines_ + PAD,
        HEADER + PAD + lines_,
    ]
    path.write_bytes(parts[where])
    by_event, by_chunk = read_both_ways(path)
    assert by_chunk == by_event


def test_a_malformed_line_in_the_middle_of_a_chunk_keeps_its_number(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    crossed = orjson.dumps({**orjson.loads(FILLER), "b": 500_000, "a": 400_000})
    n_pad = len(PAD) // len(FILLER)
    path.write_bytes(HEADER + PAD + PAD[: 100 * len(FILLER)] + crossed + b"\n{oops\n" + PAD)
    reader = TapeReader(path)
    events = [e for chunk in reader.chunks() for e in chunk]
    first = 1 + n_pad + 100 + 1  # the header, the pad, 100 more lines, then the crossed book
    assert reader.malformed[0] == (first, "crossed book: bid 500000 >= ask 400000")
    assert reader.malformed[1][0] == first + 1
    assert reader.malformed[1][1].startswith("not JSON")
    assert len(events) == 2 * n_pad + 100
    assert reader.lines == 1 + 2 * n_pad + 100 + 2


def test_input_lines_come_in_the_lists_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    model = ModelInput(5, "gbm", 0.0001, 300.0)
    with TapeWriter(path) as writer:
        writer.write(model)
        for i in range(30_000):  # several chunks
            writer.write(BookTick(10 + i // 3, "m", 400_000, 1, 410_000, 1))
            if i % 1000 == 999:
                writer.write(PriceInput(10 + i // 3, "k", i, 100.5 + i))
        writer.write(PriceInput(99_999, "k", 1, 1.0))  # after the last event
    plain = tmp_path / "t.jsonl"  # read 256 KiB at a time: several lists
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    assert len(list(TapeReader(plain, inputs=True).chunks())) > 2
    by_event, by_chunk = read_both_ways(plain, inputs=True)
    assert by_chunk == by_event
    assert read_both_ways(path, inputs=True) == (by_event, by_chunk)
    assert by_chunk[0] == model
    assert sum(type(e) is PriceInput for e in by_chunk) == 31


def test_a_truncated_tape_ends_alike(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    with TapeWriter(path, flush_every=1000) as writer:
        for i in range(20_000):
            writer.write(BookTick(10 + i, "m", 400_000, 1 + i, 410_000, 1))
    data = path.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    by_event, by_chunk = read_both_ways(cut)
    assert by_chunk == by_event
    assert by_chunk[-1][-1] is True  # truncated
    assert 1000 <= len(by_chunk) - 1 < 20_000


def test_a_later_newer_header_stops_after_the_events_before_it(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    newer = orjson.dumps({"e": "tape", "version": 99, "created": "x", "source": "y"})
    path.write_bytes(HEADER + PAD + FILLER * 10 + newer + b"\n" + FILLER)
    got: list[Any] = []
    with pytest.raises(DataError, match="version"):
        got.extend(_every_event(TapeReader(path)))
    assert len(got) == len(PAD) // len(FILLER) + 10


def _every_event(reader: TapeReader) -> Any:
    for chunk in reader.chunks():
        yield from chunk


@pytest.mark.parametrize("piece", [tape._DECODE_BYTES, 1000, 37])
def test_pieces_of_any_size_cut_lines_anywhere_and_lose_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    monkeypatch.setattr(tape, "_DECODE_BYTES", piece)
    path = tmp_path / "t.jsonl.gz"
    written = [
        BookTick(10 + i, f"m{i % 7}", 400_000, i, 410_000 + i, 1, i % 1000, i / 3) for i in range(30_000)
    ]
    with TapeWriter(path) as writer:
        for event in written:
            writer.write(event)
    reader = TapeReader(path)
    assert [e for chunk in reader.chunks() for e in chunk] == written
    assert (reader.lines, reader.malformed_total) == (len(written) + 1, 0)
    assert list(TapeReader(path)) == written
