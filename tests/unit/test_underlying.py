"""The underlying's price series: every file shape it comes in, every bad row, and pricing."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bot.fairvalue import p_up
from bot.feeds.tape import DataError
from bot.feeds.underlying import PricingStats, find_beside, load_series, priced
from bot.model import ONE, BookTick, Market, Outcome, WindowOpened, WindowResolved

T0 = 1_800_000_000_000


def test_csv_with_a_header_json_shapes_and_parquet_give_the_same_points(tmp_path: Path) -> None:
    csv_file = tmp_path / "btc.csv"
    csv_file.write_text("Timestamp,Close\n1800000000,97000\n1800000001,97010.5\n")
    as_list = tmp_path / "list.json"
    as_list.write_text("[[1800000000000, 97000], [1800000001000, 97010.5]]")
    as_objects = tmp_path / "obj.json"
    as_objects.write_text('{"history": [{"t": 1800000000, "p": 97000}, {"t": 1800000001, "p": 97010.5}]}')
    gz = tmp_path / "btc.csv.gz"
    gz.write_bytes(gzip.compress(csv_file.read_bytes()))
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq_file = tmp_path / "btc.parquet"
    pq.write_table(pa.table({"ts": [1800000000, 1800000001], "value": [97000.0, 97010.5]}), pq_file)
    for f in (csv_file, as_list, as_objects, gz, pq_file):
        s = load_series(f)
        assert s.ts == [T0, T0 + 1000], f
        assert s.values == [97000.0, 97010.5], f


def test_binance_klines_are_stamped_at_their_close(tmp_path: Path) -> None:
    rows = []
    for i in range(3):
        start = T0 + i * 60_000
        rows.append(f"{start},1,2,0.5,{100 + i},9,{start + 59_999},0,0,0,0,0")
    f = tmp_path / "klines.csv"
    f.write_text("\n".join(rows) + "\n")
    s = load_series(f)
    assert s.ts == [T0 + 60_000, T0 + 120_000, T0 + 180_000]  # never at the open: no look-ahead
    assert s.values == [100.0, 101.0, 102.0]


def test_a_bad_row_lists_every_reason_and_is_not_used(tmp_path: Path) -> None:
    f = tmp_path / "u.csv"
    f.write_text("timestamp,price\n1800000000,97000\nyesterday,-5\n1799999999,97001\n1800000002,97002\n")
    s = load_series(f)
    assert s.values == [97000.0, 97002.0]
    assert s.malformed_total == 2
    line, reason = s.malformed[0]
    assert line == 3
    assert "timestamp 'yesterday'" in reason
    assert "price '-5'" in reason
    assert s.malformed[1][0] == 4
    assert "backwards" in s.malformed[1][1]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("when,what\n1,2\n", "no time column"),
        ("timestamp,price\nx,y\n", "no usable price"),
        ("", "empty file"),
    ],
)
def test_nothing_usable_is_one_line_naming_the_file(tmp_path: Path, text: str, words: str) -> None:
    f = tmp_path / "u.csv"
    f.write_text(text)
    with pytest.raises(DataError) as err:
        load_series(f)
    assert words in str(err.value)
    assert str(f) in str(err.value)
    assert "\n" not in str(err.value)


def test_found_beside_the_data(tmp_path: Path) -> None:
    data = tmp_path / "day.csv"
    data.write_text("x")
    assert find_beside(data) is None
    (tmp_path / "underlying.json").write_text("[]")
    assert find_beside(data) == tmp_path / "underlying.json"
    (tmp_path / "day.underlying.csv").write_text("")
    assert find_beside(data) == tmp_path / "day.underlying.csv"
    assert find_beside(tmp_path) == tmp_path / "underlying.json"


def test_ticks_get_p_up_from_the_strike_at_the_start_and_only_past_prices(tmp_path: Path) -> None:
    f = tmp_path / "u.csv"
    f.write_text("timestamp,price\n" + "".join(f"{1800000000 + i},{100 + i}\n" for i in range(10)))
    series = load_series(f)
    market = Market("m", "BTC", "m", T0 + 2000, T0 + 300_000)
    events = [
        WindowOpened(T0, market),
        BookTick(T0 + 1000, "m", 400_000, ONE, 420_000, ONE),  # before the start: no strike yet
        BookTick(T0 + 5500, "m", 400_000, ONE, 420_000, ONE),
        WindowResolved(T0 + 300_000, "m", Outcome.UP),
    ]
    stats = PricingStats()
    out = list(priced(events, series, stats, sigma=0.001))
    assert out[1].fair_forecast is None  # type: ignore[union-attr]
    tick = out[2]
    assert isinstance(tick, BookTick)
    # strike 102 (the price at the start), last price 105 (stamped at 5 s, not the one at 6 s)
    assert tick.underlying == 105.0
    assert tick.fair_forecast == round(p_up(105.0, 102.0, 294.5, 0.001) * ONE)
    assert stats.to_dict() == {"ticks": 2, "priced": 1, "no_strike": 1, "no_price": 0, "instruments": ["BTC"]}
