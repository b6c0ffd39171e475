"""Backtest input formats: detection, the tape, Polymarket price histories, top-of-book CSV."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.feeds.formats import DataError, LoadedData, book_from_price, detect_format, load, parse_time
from bot.feeds.tape import TapeWriter
from bot.model import ONE, BookTick, Market, MarketEvent, Outcome, WindowOpened, WindowResolved

T0_S = 1_763_780_000  # 2025-11-22T02:53:20Z
CRYPTO = 70_000  # the default fee rate without metadata: Polymarket crypto
T0 = T0_S * 1000
END_S = T0_S + 900
END = END_S * 1000
HEADER = "timestamp,market_id,best_bid,best_ask,bid_size,ask_size,window_end,outcome\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def ticks(data: LoadedData) -> list[BookTick]:
    return [e for e in data.events if isinstance(e, BookTick)]


def assert_well_formed(events: list[MarketEvent]) -> None:
    """Sorted by time; each market opens before its first tick and resolves after its last."""
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)
    opened: set[str] = set()
    resolved: set[str] = set()
    for e in events:
        if isinstance(e, WindowOpened):
            opened.add(e.market.market_id)
        elif isinstance(e, BookTick):
            assert e.market_id in opened
            assert e.market_id not in resolved
        else:
            assert e.market_id in opened
            resolved.add(e.market_id)


def assert_one_line_error(exc: pytest.ExceptionInfo[DataError], path: Path) -> None:
    text = str(exc.value)
    assert str(path) in text
    assert "\n" not in text
    assert "expected" in text


# ---------------------------------------------------------------------------
# CSV


def test_csv_with_interleaved_markets(tmp_path: Path) -> None:
    path = write(
        tmp_path / "book.csv",
        HEADER
        + f"{T0_S},a,0.52,0.54,10,12.5,{END_S},\n"
        + f"{T0_S + 1},b,0.40,0.45,3,4,{END_S + 900},\n"
        + f"{T0_S + 2},a,0.53,0.55,11,12,{END_S},\n"
        + f"{T0_S + 3},b,0.41,0.45,3,4,{END_S + 900},DOWN\n"
        + f"{END_S + 5},a,0.99,1.00,1,1,{END_S},UP\n",  # after the window: only its outcome counts
    )
    data = load(path)
    assert_well_formed(data.events)
    assert data.events == [
        WindowOpened(T0, Market("a", "", "a", T0, END, fee_rate_ppm=CRYPTO)),
        BookTick(T0, "a", 520_000, 10 * ONE, 540_000, 12_500_000),
        WindowOpened(T0 + 1000, Market("b", "", "b", T0 + 1000, END + 900_000, fee_rate_ppm=CRYPTO)),
        BookTick(T0 + 1000, "b", 400_000, 3 * ONE, 450_000, 4 * ONE),
        BookTick(T0 + 2000, "a", 530_000, 11 * ONE, 550_000, 12 * ONE),
        BookTick(T0 + 3000, "b", 410_000, 3 * ONE, 450_000, 4 * ONE),
        WindowResolved(END, "a", Outcome.UP),
        WindowResolved(END + 900_000, "b", Outcome.DOWN),
    ]
    report = data.report
    assert report.format == "csv"
    assert (report.rows_read, report.rows_used, report.malformed_total) == (5, 4, 0)
    assert report.ignored == {"row at or after window end": 1}
    assert report.markets == ["a", "b"]
    assert (report.first_ts, report.last_ts) == (T0, END + 900_000)
    assert not report.truncated
    assert "4 used" in report.summary()


def test_csv_malformed_rows_are_counted_with_line_numbers(tmp_path: Path) -> None:
    rows = [
        f"{T0_S},a,0.50,0.52,1,1,{END_S},",  # 2 ok
        f"{T0_S + 1},a,0.5x,0.52,1,1,{END_S},",  # 3 not a number
        f"yesterday,a,0.50,0.52,1,1,{END_S},",  # 4 bad time
        f"{T0_S + 1},a,0.50,1.20,1,1,{END_S},",  # 5 outside [0, 1]
        f"{T0_S + 1},a,0.50005,0.52,1,1,{END_S},",  # 6 off any tick
        f"{T0_S + 1},a,0.52,0.52,1,1,{END_S},",  # 7 crossed (locked)
        f"{T0_S + 1},a,0.50,0.52,-1,1,{END_S},",  # 8 negative size
        f"{T0_S + 1},a,0.50,0.52,1,1,{END_S}",  # 9 a field short
        f"{T0_S + 3},a,0.50,0.52,1,1,{END_S},",  # 10 ok
        f"{T0_S + 2},a,0.50,0.52,1,1,{END_S},",  # 11 time goes backwards
        f"{T0_S + 4},a,0.50,0.52,1,1,{END_S + 60},",  # 12 window_end differs
        f"{T0_S + 5},a,0.50,0.52,1,1,{END_S},sideways",  # 13 bad outcome
        f"{T0_S + 6},,0.50,0.52,1,1,{END_S},",  # 14 empty market id
        f"{T0_S + 6},a,0.50,0.52,1,1,,",  # 15 empty window_end
        "",  # 16 blank: skipped, not counted
        f"{T0_S + 7},a,0.50,0.52,1,1,{END_S},",  # 17 ok
    ]
    path = write(tmp_path / "bad.csv", HEADER + "\n".join(rows) + "\n")
    data = load(path)
    report = data.report
    assert [e.ts_ms for e in ticks(data)] == [T0, T0 + 3000, T0 + 7000]
    assert [line for line, _ in report.malformed] == [3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15]
    assert report.malformed_total == 12
    assert (report.rows_read, report.rows_used) == (15, 3)
    reasons = dict(report.malformed)
    assert reasons[3] == "best_bid '0.5x' is not a number"
    assert "not a unix time or an ISO-8601 time" in reasons[4]
    assert reasons[5] == "best_ask 1.20 is outside [0, 1]"
    assert reasons[6] == "best_bid 0.50005 is not on a tick of 0.0001 or coarser"
    assert reasons[7] == "crossed book: best_bid 0.52 >= best_ask 0.52"
    assert reasons[8] == "bid_size -1 is negative"
    assert reasons[9] == "expected 8 fields, found 7"
    assert reasons[11].startswith("time goes backwards for a")
    assert reasons[12].startswith("window_end 2025-11-22T03:09:20.000Z differs from")
    assert "is not UP/DOWN (or Up/Down, Yes/No)" in reasons[13]
    assert reasons[14] == "market_id is empty"
    assert reasons[15] == "window_end is empty"
    assert "12 malformed (first: line 3: best_bid '0.5x' is not a number)" in report.summary()


def test_csv_malformed_list_is_capped_but_all_are_counted(tmp_path: Path) -> None:
    bad = "".join(f"{T0_S + i},a,0.6,0.5,1,1,{END_S},\n" for i in range(150))
    path = write(tmp_path / "crossed.csv", HEADER + f"{T0_S},a,0.5,0.6,1,1,{END_S},\n" + bad)
    report = load(path).report
    assert report.malformed_total == 150
    assert len(report.malformed) == 100
    assert report.malformed[0][0] == 3


def test_csv_strict_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.csv", HEADER + f"{T0_S},a,0.5,0.6,1,1,{END_S},\n{T0_S},a,0.7,0.6,1,1,{END_S},\n"
    )
    with pytest.raises(DataError, match=r"s.csv:3: crossed book.*\(strict\)"):
        load(path, strict=True)


@pytest.mark.parametrize(
    "stamp",
    [
        str(T0_S + 1),
        str(T0 + 1000),
        f"{T0_S + 1}.0",
        "2025-11-22T02:53:21Z",
        "2025-11-22T02:53:21.000+00:00",
        "2025-11-22T03:53:21+01:00",
    ],
)
def test_csv_timestamp_forms(tmp_path: Path, stamp: str) -> None:
    path = write(tmp_path / "t.csv", HEADER + f"{stamp},a,0.5,0.6,1,1,2025-11-22T03:08:20Z,\n")
    data = load(path)
    assert ticks(data)[0].ts_ms == T0 + 1000
    assert data.events[0] == WindowOpened(
        T0 + 1000, Market("a", "", "a", T0 + 1000, END, fee_rate_ppm=CRYPTO)
    )
    assert data.report.notes == []


def test_csv_naive_iso_times_are_utc_and_noted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", HEADER + f"2025-11-22 02:53:21,a,0.5,0.6,1,1,{END},\n")
    data = load(path)
    assert ticks(data)[0].ts_ms == T0 + 1000
    assert data.report.notes == ["1 time(s) without a time zone read as UTC"]


def test_csv_renamed_columns_optional_columns_and_options(tmp_path: Path) -> None:
    path = write(
        tmp_path / "tok.csv",
        "Time;Token_ID;bid;ask;underlying;strike;window_start\n"
        f"{T0_S};tok1;0.500;0.502;97000.5;97100;{T0_S - 60}\n"
        f"{T0_S + 1};tok1;0.501;0.503;;97100;\n",
    )
    data = load(
        path,
        delimiter=";",
        columns={"timestamp": "time", "market_id": "token_id", "best_bid": "bid", "best_ask": "ask"},
        window_end=END_S,
        outcome="down",
        tick="0.001",
        size=25,
        instrument="BTC",
        fee_rate_ppm=1000,
    )
    market = Market("tok1", "BTC", "tok1", T0 - 60_000, END, strike=97100.0, tick=1000, fee_rate_ppm=1000)
    assert data.events == [
        WindowOpened(T0 - 60_000, market),
        BookTick(T0, "tok1", 500_000, 25 * ONE, 502_000, 25 * ONE, None, 97000.5),
        BookTick(T0 + 1000, "tok1", 501_000, 25 * ONE, 503_000, 25 * ONE),
        WindowResolved(END, "tok1", Outcome.DOWN),
    ]
    assert data.report.notes == ["no size column(s): used 25 shares"]


def test_csv_market_id_option_for_a_single_market_file(tmp_path: Path) -> None:
    path = write(tmp_path / "one.csv", "timestamp,best_bid,best_ask,window_end\n" + f"{T0},0.5,0.6,{END}\n")
    assert ticks(load(path, market_id="solo"))[0].market_id == "solo"


def test_csv_contradicting_outcomes_leave_the_market_unresolved(tmp_path: Path) -> None:
    path = write(
        tmp_path / "o.csv",
        HEADER + f"{T0_S},a,0.5,0.6,1,1,{END_S},UP\n{T0_S + 1},a,0.5,0.6,1,1,{END_S},DOWN\n",
    )
    data = load(path)
    assert not any(isinstance(e, WindowResolved) for e in data.events)
    assert data.report.malformed == [(3, "outcome DOWN contradicts UP in earlier rows")]
    assert "a: contradicting outcomes, left unresolved" in data.report.notes


def test_csv_missing_columns_name_expected_and_found(tmp_path: Path) -> None:
    path = write(tmp_path / "cols.csv", "time,token_id,bid,ask\n1,a,0.5,0.6\n")
    with pytest.raises(DataError, match="CSV columns do not match") as info:
        load(path)
    assert_one_line_error(info, path)
    text = str(info.value)
    assert "missing timestamp, market_id, best_bid, best_ask, window_end" in text
    assert "found time, token_id, bid, ask" in text
    assert "or pass metadata=FILE (a Gamma export) saying which market each token is in" in text


def test_csv_option_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", HEADER + f"{T0_S},a,0.5,0.6,1,1,{END_S},\n")
    with pytest.raises(DataError, match="window_end is given both as an option and as column"):
        load(path, window_end=END)
    with pytest.raises(DataError, match="unknown option"):
        load(path, spred=0.02)
    with pytest.raises(DataError, match=r"option tick='0\.03'.*divides 1"):
        load(path, tick="0.03")
    with pytest.raises(DataError, match="unknown column role"):
        load(path, columns={"price": "p"})


def test_csv_with_no_usable_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "none.csv", HEADER + f"{T0_S},a,0.7,0.6,1,1,{END_S},\n")
    with pytest.raises(DataError, match="no usable rows") as info:
        load(path)
    assert_one_line_error(info, path)
    assert f"{path}:2: crossed book" in str(info.value)
    only_header = write(tmp_path / "header.csv", HEADER)
    with pytest.raises(DataError, match="only a header line"):
        load(only_header)


def test_gzipped_csv_and_a_truncated_one(tmp_path: Path) -> None:
    body = HEADER + "".join(f"{T0 + i},a,0.5,0.6,1,1,{END_S},\n" for i in range(2000))
    path = tmp_path / "book.csv.gz"
    path.write_bytes(gzip.compress(body.encode()))
    assert detect_format(path) == "csv"
    assert len(ticks(load(path))) == 2000
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    data = load(cut)
    assert data.report.truncated
    assert 0 < len(ticks(data)) < 2000


def test_loading_is_deterministic(tmp_path: Path) -> None:
    row = "{},{},0.{},0.{},1,1,{},UP"
    lines = [row.format(T0_S + i // 3, "abc"[i % 3], 10 + i % 50, 70 + i % 20, END_S) for i in range(300)]
    path = write(tmp_path / "d.csv", HEADER + "\n".join(lines) + "\n")
    first, second = load(path), load(path)
    assert first.events == second.events
    assert first.report == second.report
    assert_well_formed(first.events)


# ---------------------------------------------------------------------------
# Polymarket price history


def history(path: Path, points: list[tuple[float, float]]) -> Path:
    path.write_bytes(orjson.dumps({"history": [{"t": t, "p": p} for t, p in points]}))
    return path


def test_price_history_of_an_up_token(tmp_path: Path) -> None:
    path = history(tmp_path / "btc-up.json", [(T0_S, 0.53), (T0_S + 60, 0.535), (END_S, 0.99)])
    data = load(path, token_outcome="UP", window_end=END_S, outcome="UP", size="50")
    market = Market("btc-up", "", "btc-up", T0, END, fee_rate_ppm=CRYPTO)
    assert data.events == [
        WindowOpened(T0, market),
        BookTick(T0, "btc-up", 520_000, 50 * ONE, 540_000, 50 * ONE),
        BookTick(T0 + 60_000, "btc-up", 520_000, 50 * ONE, 550_000, 50 * ONE),
        WindowResolved(END, "btc-up", Outcome.UP),
    ]
    report = data.report
    assert (report.format, report.row_unit) == ("polymarket", "point")
    assert (report.rows_read, report.rows_used) == (3, 2)
    assert report.ignored == {"point at or after window end": 1}


def test_price_history_of_a_down_token_is_turned_into_the_up_view(tmp_path: Path) -> None:
    path = history(tmp_path / "down.json", [(T0_S, 0.30), (T0_S + 1, 0.999)])
    data = load(path, token_outcome="DOWN", window_end=END, spread="0", market_id="m")
    assert [(t.bid, t.ask) for t in ticks(data)] == [(700_000, 710_000), (10_000, 20_000)]
    assert not any(isinstance(e, WindowResolved) for e in data.events)  # outcome unknown


def test_price_history_settings_from_a_sidecar(tmp_path: Path) -> None:
    path = history(tmp_path / "eth.json", [(T0_S, 0.5)])
    meta: dict[str, object] = {"token_outcome": "UP", "window_end": "2025-11-22T03:08:20Z", "outcome": "DOWN"}
    meta |= {"tick": 0.001, "market_id": "eth-15m", "instrument": "ETH"}
    (tmp_path / "eth.meta.json").write_bytes(orjson.dumps(meta))
    data = load(path, spread=0.004)  # keyword options win over the sidecar
    assert data.events == [
        WindowOpened(T0, Market("eth-15m", "ETH", "eth-15m", T0, END, tick=1000, fee_rate_ppm=CRYPTO)),
        BookTick(T0, "eth-15m", 498_000, 100 * ONE, 502_000, 100 * ONE),
        WindowResolved(END, "eth-15m", Outcome.DOWN),
    ]
    assert "settings from eth.meta.json" in data.report.notes
    (tmp_path / "eth.meta.json").write_bytes(orjson.dumps({"token": "UP"}))
    with pytest.raises(DataError, match="unknown key"):
        load(path)


def test_price_history_malformed_points_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    points = [{"t": T0_S, "p": 0.5}, {"t": T0_S + 1}, {"t": "soon", "p": 0.5}, {"t": T0_S + 2, "p": 1.5}]
    points += [{"t": T0_S - 5, "p": 0.5}, [1, 2], {"t": T0_S + 3, "p": 0.6}]
    path.write_bytes(orjson.dumps({"history": points}))
    data = load(path, token_outcome="UP", window_end=END)
    assert [t.ts_ms for t in ticks(data)] == [T0, T0 + 3000]
    assert [n for n, _ in data.report.malformed] == [2, 3, 4, 5, 6]
    assert "point 2: missing p" in data.report.summary()


def test_price_history_needs_token_outcome_and_window_end(tmp_path: Path) -> None:
    path = history(tmp_path / "p.json", [(T0_S, 0.5)])
    with pytest.raises(DataError, match="token_outcome is not set") as info:
        load(path, window_end=END)
    assert "p.meta.json" in str(info.value)
    with pytest.raises(DataError, match="window_end is not set"):
        load(path, token_outcome="UP")
    with pytest.raises(
        DataError, match=r"setting token_outcome='SIDEWAYS': expected UP/DOWN \(or Up/Down, Yes/No\)"
    ):
        load(path, token_outcome="SIDEWAYS", window_end=END)


def test_price_history_that_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b'{"history": {"t": 1}}')
    with pytest.raises(DataError, match='no list of points under "history"') as info:
        load(path, token_outcome="UP", window_end=END)
    assert_one_line_error(info, path)
    path.write_bytes(b'{"history": [')
    with pytest.raises(DataError, match="not valid JSON"):
        load(path, token_outcome="UP", window_end=END)


def test_book_from_price_examples() -> None:
    tick = 10_000
    assert book_from_price(Decimal(530_000), tick=tick, spread=20_000) == (520_000, 540_000)
    assert book_from_price(Decimal(535_000), tick=tick, spread=20_000) == (520_000, 550_000)
    assert book_from_price(Decimal(530_000), tick=tick, spread=0) == (530_000, 540_000)
    assert book_from_price(Decimal(0), tick=tick, spread=20_000) == (10_000, 20_000)
    assert book_from_price(Decimal(ONE), tick=tick, spread=20_000) == (980_000, 990_000)


@given(
    price=st.integers(0, ONE),
    tick=st.sampled_from([1_000, 10_000, 100_000]),
    spread=st.integers(0, 200_000),
)
def test_book_from_price_is_a_valid_book_around_the_price(price: int, tick: int, spread: int) -> None:
    bid, ask = book_from_price(Decimal(price), tick=tick, spread=spread)
    assert tick <= bid < ask <= ONE - tick
    assert bid % tick == 0
    assert ask % tick == 0
    if tick + spread <= price <= ONE - tick - spread:
        assert bid <= price - spread / 2
        assert ask >= price + spread / 2
        assert ask - bid <= spread + 2 * tick


# ---------------------------------------------------------------------------
# the tape as backtest input


def test_tape_loads_as_recorded_with_checks(tmp_path: Path) -> None:
    market = Market("m", "BTC", "m", T0, END)
    other = Market("n", "BTC", "n", T0, END)
    good = [BookTick(T0 + i, "m", 500_000, ONE, 510_000, ONE, 505_000, 97_000.0 + i) for i in range(3)]
    recorded: list[MarketEvent] = [
        BookTick(T0, "n", 1, 1, 2, 2),  # line 2: before its open: ignored
        WindowOpened(T0, market),  # 3
        good[0],  # 4
        BookTick(T0 + 1, "m", 510_000, ONE, 500_000, ONE),  # 5 crossed
        good[1],  # 6
        BookTick(T0, "m", 500_000, ONE, 510_000, ONE),  # 7 time goes backwards
        WindowOpened(T0, market),  # 8 repeated
        good[2],  # 9
        BookTick(END, "m", 500_000, ONE, 510_000, ONE),  # 10 at the window end: ignored
        WindowResolved(END + 5, "m", Outcome.UP, 97_100.0),  # 11
        BookTick(END + 6, "m", 500_000, ONE, 510_000, ONE),  # 12 after the resolve: ignored
        WindowOpened(T0 + 10, other),  # 13: a market with no ticks still opens
    ]
    path = tmp_path / "rec.jsonl.gz"
    with TapeWriter(path) as tape:
        for event in recorded:
            tape.write(event)
    data = load(path)
    assert data.events == [
        WindowOpened(T0, market),
        *good,
        WindowOpened(T0 + 10, other),
        WindowResolved(END + 5, "m", Outcome.UP, 97_100.0),
    ]
    report = data.report
    assert report.format == "tape"
    assert [n for n, _ in report.malformed] == [5, 7]
    assert report.malformed[0][1] == "crossed book: bid 510000 >= ask 500000"
    assert report.ignored == {
        "book before its market's open": 1,
        "repeated open": 1,
        "book at or after window end": 1,
        "book after its market's resolve": 1,
    }
    assert (report.rows_read, report.rows_used) == (12, 6)
    assert report.markets == ["m", "n"]


def test_truncated_tape_is_flagged_in_the_report(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    market = Market("m", "BTC", "m", T0, END)
    tape = TapeWriter(path, flush_every=10, flush_interval_s=3600)
    tape.write(WindowOpened(T0, market))
    for i in range(25):
        tape.write(BookTick(T0 + i, "m", 500_000, ONE, 510_000, ONE))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(path.read_bytes())  # as if killed now, before close
    tape.close()
    data = load(cut)
    assert data.report.truncated
    assert "TRUNCATED" in data.report.summary()
    assert len(ticks(data)) == 19  # 20 events were flushed, the open is one of them
    assert any("tape truncated after line 21" in note for note in data.report.notes)
    assert not load(path).report.truncated


# ---------------------------------------------------------------------------
# detection and general errors


def test_detection_by_content_then_extension(tmp_path: Path) -> None:
    tape = tmp_path / "x.dat"
    with TapeWriter(tmp_path / "t.jsonl.gz") as writer:
        writer.write(BookTick(T0, "m", 1, 1, 2, 2))
    tape.write_bytes((tmp_path / "t.jsonl.gz").read_bytes())
    assert detect_format(tape) == "tape"
    assert detect_format(history(tmp_path / "h.dat", [(T0_S, 0.5)])) == "polymarket"
    assert detect_format(write(tmp_path / "bare.txt", '  [{"t": 1, "p": 0.5}]')) == "polymarket"
    assert detect_format(write(tmp_path / "pretty.txt", '{\n  "history": []\n}')) == "polymarket"
    assert detect_format(write(tmp_path / "c.txt", "\ufefftimestamp,market_id\n")) == "csv"
    assert detect_format(write(tmp_path / "tabs.txt", "timestamp\tmarket_id\n")) == "csv"
    assert detect_format(write(tmp_path / "one.csv", "timestamp\n1\n")) == "csv"
    weird = write(tmp_path / "notes.txt", "hello world\n")
    with pytest.raises(DataError, match="unknown format") as info:
        detect_format(weird)
    assert_one_line_error(info, weird)


def test_general_errors_are_one_line_data_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(DataError, match="no such file") as info:
        load(missing)
    assert_one_line_error(info, missing)
    with pytest.raises(DataError, match="not a regular file"):
        load(tmp_path)
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(DataError, match="empty file") as info:
        load(empty)
    assert_one_line_error(info, empty)
    some = write(tmp_path / "some.csv", HEADER)
    with pytest.raises(DataError, match="unknown format 'xlsx'") as info:
        load(some, fmt="xlsx")
    assert_one_line_error(info, some)
    with pytest.raises(DataError, match="not a tape"):
        load(some, fmt="tape")
    assert issubclass(DataError, ValueError)


def test_parse_time() -> None:
    assert parse_time(T0_S) == parse_time(T0) == parse_time("2025-11-22T02:53:20Z") == T0
    assert parse_time(T0_S + 0.5) == T0 + 500
    for bad in ("", "soon", 5, "nan", True, -T0):
        with pytest.raises(ValueError, match=r"time|out of range"):
            parse_time(bad)


def test_a_tape_open_recorded_late_is_moved_to_its_first_tick(tmp_path: Path) -> None:
    market = Market("m", "BTC", "m", T0, END)
    tick = BookTick(T0 + 10, "m", 500_000, ONE, 510_000, ONE)
    path = tmp_path / "late.jsonl.gz"
    with TapeWriter(path) as tape:
        tape.write(WindowOpened(T0 + 50, market))  # the clock that stamped the open ran late
        tape.write(tick)
    assert load(path).events == [WindowOpened(T0 + 10, market), tick]


def test_bare_list_price_history_and_report_as_json(tmp_path: Path) -> None:
    path = tmp_path / "bare.json"
    path.write_bytes(orjson.dumps([{"t": T0_S, "p": 1}, {"t": T0_S + 1, "p": 0}]))
    data = load(path, token_outcome="UP", window_end=END, fmt="polymarket")
    assert [(t.bid, t.ask) for t in ticks(data)] == [(980_000, 990_000), (10_000, 20_000)]
    as_json = orjson.loads(orjson.dumps(data.report.to_dict()))
    assert as_json["format"] == "polymarket"
    assert as_json["markets"] == ["bare"]


@pytest.mark.parametrize("said", ["0.5", "50-50", "split", "50/50"])
def test_csv_a_fifty_fifty_outcome_resolves_without_a_winner(tmp_path: Path, said: str) -> None:
    path = write(
        tmp_path / "s.csv",
        HEADER + f"{T0_S},a,0.5,0.6,1,1,{END_S},\n{T0_S + 1},a,0.5,0.6,1,1,{END_S},{said}\n",
    )
    resolutions = [e for e in load(path).events if isinstance(e, WindowResolved)]
    assert resolutions == [WindowResolved(END, "a", None)]


def test_csv_a_fifty_fifty_contradicting_a_winner_leaves_the_market_unresolved(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.csv",
        HEADER + f"{T0_S},a,0.5,0.6,1,1,{END_S},UP\n{T0_S + 1},a,0.5,0.6,1,1,{END_S},0.5\n",
    )
    data = load(path)
    assert not any(isinstance(e, WindowResolved) for e in data.events)
    assert data.report.malformed == [(3, "outcome SPLIT contradicts UP in earlier rows")]
