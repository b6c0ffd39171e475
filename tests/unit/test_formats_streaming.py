"""A CSV in time order streamed (issue 13, memory flat with file length): the same events
and report as ``load``, read with a bounded buffer (bot.feeds.formats.streaming)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import re
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pytest

from bot.feeds.formats import DataError, load
from bot.feeds.formats.streaming import CHUNK_ROWS, StreamedCsv, stream_csv
from tests.support import eventually

T0_S = 1_785_881_100  # 2026-08-04T22:05:00Z
WINDOW_S = 300
HEADER = "timestamp,market_id,best_bid,best_ask,bid_size,ask_size,window_end,outcome\n"
TOKEN_HEADER = "timestamp,market,asset_id,side,best_bid,best_ask,bid_size,ask_size,window_end,winner\n"
TOKEN_COLUMNS = {"market_id": "market", "token_id": "asset_id", "token_outcome": "side", "outcome": "winner"}


def per_market_rows(seconds: int, seed: int = 7) -> str:
    """Three markets of 5-minute windows one after another, rows every second for each of
    them (interleaved, several at one time), a few malformed rows and naive ISO times."""
    rng = random.Random(seed)
    lines = [HEADER]
    for t in range(seconds):
        ts = T0_S + t
        window = t // WINDOW_S
        end = T0_S + (window + 1) * WINDOW_S
        for name in ("a", "b", "c"):
            market = f"{name}{window}"
            bid = rng.randrange(1, 98)
            outcome = "UP" if t % WINDOW_S == WINDOW_S - 1 and name != "c" else ""
            when = str(ts) if t % 97 else "2026-08-04T22:05:00"[:11] + _clock(ts)
            if t % 1013 == 5 and name == "b":
                lines.append(f"{ts},{market},0.6,0.5,1,1,{end},{outcome}\n")  # crossed
                continue
            lines.append(f"{when},{market},{bid / 100:.2f},{(bid + 1) / 100:.2f},10,20,{end},{outcome}\n")
    return "".join(lines)


def _clock(ts: int) -> str:
    seconds = ts % 86400
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def per_token_rows(seconds: int, seed: int = 11) -> str:
    """One market per 5-minute window, both tokens' rows every second (sometimes only one,
    sometimes two rows of a token at one time, sometimes books that cross), outcome 1/0."""
    rng = random.Random(seed)
    lines = [TOKEN_HEADER]
    for t in range(seconds):
        ts = (T0_S + t) * 1000
        window = t // WINDOW_S
        end = T0_S + (window + 1) * WINDOW_S
        up, down = f"{window}1", f"{window}2"
        last = t % WINDOW_S == WINDOW_S - 1
        bid = rng.randrange(2, 96)
        rows = [(up, "Up", bid), (down, "Down", 98 - bid - rng.choice((0, 0, 0, 3)))]
        if t % 7 == 3:
            rows.append((up, "Up", bid + 1))
        if t % 11 == 4:
            rows = rows[1:]
        for token, side, price in rows:
            won = ("1" if side == "Up" else "0") if last else ""
            lines.append(
                f"{ts},m{window},{token},{side},{price / 100:.2f},{(price + 1) / 100:.2f},5,6,{end},{won}\n"
            )
    return "".join(lines)


def same_as_load(path: Path, **options: object) -> int:
    """Stream `path`; assert its events and report are load's; the peak rows buffered."""
    loaded = load(path, fmt="csv", **options)
    streamed = stream_csv(path, **options)
    assert streamed is not None
    finished = []
    events = list(streamed.events(finished.append))
    assert events == loaded.events
    assert finished == [streamed.report]
    assert streamed.report.to_dict() == loaded.report.to_dict()
    assert streamed.recorded is not None
    assert list(streamed.events()) == loaded.events  # replayed from the record
    assert streamed.report.to_dict() == loaded.report.to_dict()  # its notes not added twice
    return streamed.peak_buffered


def test_a_long_csv_in_time_order_streams_with_a_bounded_buffer(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(per_market_rows(4 * WINDOW_S * 10))  # 36,000 rows, 30 markets
    loaded = load(path)
    assert loaded.report.malformed_total > 0
    assert loaded.report.notes  # the naive times
    rows = loaded.report.rows_read
    assert rows > 8 * CHUNK_ROWS
    peak = same_as_load(path)
    # a chunk of rows and the rows of one time, never the file
    assert 0 < peak <= CHUNK_ROWS + 3
    assert peak < rows / 8


def test_rows_per_token_stream_paired_as_load_pairs_them(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(per_token_rows(3 * WINDOW_S * 10))
    loaded = load(path, columns=TOKEN_COLUMNS)
    assert loaded.report.books_disagree > 0
    peak = same_as_load(path, columns=TOKEN_COLUMNS)
    assert 0 < peak <= CHUNK_ROWS + 4
    assert peak < loaded.report.rows_read / 4


def test_the_report_is_complete_only_when_the_events_end(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(per_token_rows(WINDOW_S))
    streamed = stream_csv(path, columns=TOKEN_COLUMNS)
    assert streamed is not None
    assert streamed.report.books_disagree == 0  # not counted before the rows are paired
    list(streamed.events())
    assert streamed.report.books_disagree == load(path, columns=TOKEN_COLUMNS).report.books_disagree > 0


def test_a_csv_out_of_time_order_is_not_streamed(tmp_path: Path) -> None:
    text = per_market_rows(30)
    header, *rows = text.splitlines(keepends=True)
    rows[10], rows[40] = rows[40], rows[10]  # two markets' rows swapped in time
    path = tmp_path / "shuffled.csv"
    path.write_text(header + "".join(rows))
    assert stream_csv(path) is None
    assert load(path).report.rows_used > 0  # read whole and sorted, as always


def test_a_token_market_whose_rows_must_be_cut_is_not_streamed(tmp_path: Path) -> None:
    # the two tokens' rows differ in window_end: the UP token's (the first) is used, and
    # the DOWN token's row after it is cut, which needs the rows themselves
    path = tmp_path / "late.csv"
    path.write_text(
        TOKEN_HEADER
        + f"{T0_S},m,u,Up,0.50,0.52,1,1,{T0_S + 10},\n"
        + f"{T0_S + 1},m,d,Down,0.48,0.50,1,1,{T0_S + 30},\n"
        + f"{T0_S + 20},m,d,Down,0.48,0.50,1,1,{T0_S + 30},\n"
    )
    assert load(path, columns=TOKEN_COLUMNS).report.ignored == {"row at or after window end": 1}
    assert stream_csv(path, columns=TOKEN_COLUMNS) is None


def test_errors_are_the_ones_load_raises(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp,best_bid\n1,0.5\n")
    for options in ({}, {"spred": 1}, {"strict": "yes"}):
        with pytest.raises(DataError) as loaded:
            load(path, fmt="csv", **options)
        with pytest.raises(DataError) as streamed:
            stream_csv(path, **options)
        assert str(streamed.value) == str(loaded.value)


def test_a_streamed_backtest_writes_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import backtest
    from bot.config import load_config
    from bot.feeds.formats import streaming

    path = tmp_path / "tokens.csv"
    path.write_text(per_token_rows(4 * WINDOW_S))
    outputs = {}
    streams = []
    real = streaming.stream_file

    def spy(path: Path, fmt: str, **options: object) -> streaming.StreamedCsv | str:
        streams.append(real(path, fmt, **options))
        return streams[-1]

    for mode in ("loaded", "streamed"):
        if mode == "streamed":
            monkeypatch.setattr(streaming, "STREAM_MIN_BYTES", 0)
            monkeypatch.setattr(streaming, "stream_file", spy)
        out = tmp_path / mode / "results"
        result = backtest.run_backtest(
            path, load_config(None), out, options={"columns": TOKEN_COLUMNS}, baselines=True
        )
        assert (result.summary["data"]["rows_read"], result.summary["trades"]) != (0, 0)
        outputs[mode] = {
            p.relative_to(out): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "timing.json"
        }
    assert len(streams) == 1
    assert isinstance(streams[0], streaming.StreamedCsv)
    assert streams[0].peak_buffered > 0  # read by events(): the backtest took the stream
    assert any(str(name).startswith("baselines") for name in outputs["streamed"])  # replayed
    assert outputs["loaded"].keys() == outputs["streamed"].keys()
    summary = json.loads(outputs["streamed"][Path("summary.json")])
    assert summary["data"]["loading"]["streamed"] is True
    assert json.loads(outputs["loaded"][Path("summary.json")])["data"]["loading"]["streamed"] is False
    for name, content in outputs["loaded"].items():
        # byte for byte but the line saying how the file was read
        assert without_loading(outputs["streamed"][name]) == without_loading(content), name


def without_loading(content: bytes) -> bytes:
    """A backtest's file without what says whether the data was streamed."""
    content = re.sub(rb'\n *"loading": \{[^}]*\},?', b"", content)
    return re.sub(rb"<tr><td>Loading</td>.*?</tr>\n?", b"", content)


_FORKED: list[StreamedCsv] = []  # what a forked reader finds in its copy of memory
Reading = tuple[str, int, int]


def _forked_reading(started: str) -> Reading:
    """In a forked process: the events' digest, how many, and whether they were followed;
    the file `started` written once the first event is read."""
    streamed = _FORKED[0]
    events: list[object] = []
    for event in streamed.events():
        if not events:
            Path(started).write_text("reading")
        events.append(event)
    return hashlib.sha256(repr(events).encode()).hexdigest(), len(events), streamed.followed


def _fork_readers(streamed: StreamedCsv, folder: Path) -> tuple[ProcessPoolExecutor, list[Future[Reading]]]:
    """Two processes forked from this one, each reading the events; once both have begun."""
    _FORKED[:] = [streamed]
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
    flags = [folder / f"started-{i}" for i in range(2)]
    futures = [pool.submit(_forked_reading, str(flag)) for flag in flags]
    eventually(lambda: all(flag.exists() for flag in flags), timeout=300)
    return pool, futures


def test_forked_readers_follow_the_first_reading_instead_of_pairing_again(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(per_token_rows(3 * WINDOW_S * 10))
    loaded = load(path, columns=TOKEN_COLUMNS).events
    streamed = stream_csv(path, columns=TOKEN_COLUMNS)
    assert streamed is not None
    reading = streamed.events()
    first = [next(reading)]  # the reading has begun, as a backtest's has when it forks
    pool, futures = _fork_readers(streamed, tmp_path)
    with pool:
        first.extend(reading)
        results = [future.result(timeout=300) for future in futures]
    assert first == loaded
    digest = hashlib.sha256(repr(loaded).encode()).hexdigest()
    assert results == [(digest, len(loaded), 1), (digest, len(loaded), 1)]  # followed, not paired


def test_forked_readers_pair_the_rest_when_the_first_reading_stops(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(per_token_rows(3 * WINDOW_S * 10))
    loaded = load(path, columns=TOKEN_COLUMNS).events
    streamed = stream_csv(path, columns=TOKEN_COLUMNS)
    assert streamed is not None
    reading = streamed.events()
    taken = [next(reading) for _ in range(len(loaded) // 3)]  # a run that stops a third of the way
    pool, futures = _fork_readers(streamed, tmp_path)
    with pool:
        streamed.replays().abandon()
        results = [future.result(timeout=300) for future in futures]
    assert taken == loaded[: len(taken)]
    digest = hashlib.sha256(repr(loaded).encode()).hexdigest()
    assert results == [(digest, len(loaded), 0), (digest, len(loaded), 0)]  # all, paired themselves
    assert list(streamed.events()) == loaded  # and this process reads them whole again
