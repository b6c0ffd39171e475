"""Parquet input (bot.feeds.formats.parquet): the same events and reasons as the CSV."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bot.feeds.formats import DataError, detect_format, load

T0_S = 1_785_881_100
END_S = T0_S + 300


def write_both(tmp_path: Path, table: pa.Table) -> tuple[Path, Path]:
    """The table as Parquet and as the CSV a quant would export from it."""
    parquet = tmp_path / "books.parquet"
    pq.write_table(table, parquet)
    lines = [",".join(table.column_names)]
    for row in table.to_pylist():
        lines.append(",".join("" if v is None else str(v) for v in row.values()))
    csv = tmp_path / "books.csv"
    csv.write_text("\n".join(lines) + "\n")
    return parquet, csv


def test_rows_per_token_give_the_same_events_as_the_csv(tmp_path: Path) -> None:
    n = 40
    table = pa.table(
        {
            "timestamp": pa.array([T0_S + i // 2 for i in range(n)], pa.int64()),
            "market_id": ["m"] * n,
            "token_id": ["u" if i % 2 == 0 else "d" for i in range(n)],
            "token_outcome": ["Up" if i % 2 == 0 else "Down" for i in range(n)],
            "best_bid": [
                round(0.5 + i // 2 % 5 / 100 if i % 2 == 0 else 0.48 - i // 2 % 5 / 100, 2) for i in range(n)
            ],
            "best_ask": [
                round(0.52 + i // 2 % 5 / 100 if i % 2 == 0 else 0.5 - i // 2 % 5 / 100, 2) for i in range(n)
            ],
            "bid_size": [10.5] * n,
            "ask_size": [7.25] * n,
            "window_end": pa.array([END_S] * n, pa.int64()),
            "outcome": ["1" if i % 2 == 0 else "0" for i in range(n)],
        }
    )
    parquet, csv = write_both(tmp_path, table)
    assert detect_format(parquet) == "parquet"
    from_parquet, from_csv = load(parquet), load(csv)
    assert from_parquet.events == from_csv.events
    assert len(from_parquet.events) == 22  # open, 20 ticks (one per time), resolution
    assert from_parquet.report.format == "parquet"
    assert from_parquet.report.rows_used == n


def test_bad_rows_have_the_csv_reasons_and_row_numbers(tmp_path: Path) -> None:
    table = pa.table(
        {
            "timestamp": pa.array([T0_S, T0_S + 1, 5, T0_S + 3, T0_S + 2], pa.int64()),
            "market_id": ["m", "m", "m", "", "m"],
            "best_bid": [0.5, 1.5, 0.5, 0.5, 0.5],
            "best_ask": [0.6, 0.4, 0.6, 0.6, 0.6],
            "bid_size": [1.0, -1.0, 1.0, 1.0, 1.0],
            "window_end": pa.array([END_S] * 5, pa.int64()),
        }
    )
    parquet, _ = write_both(tmp_path, table)
    report = load(parquet).report
    assert report.row_unit == "row"
    assert report.malformed == [
        (2, "best_bid 1.5 is outside [0, 1]; bid_size -1.0 is negative"),
        (3, "timestamp: '5' is out of range for unix seconds or milliseconds after 2001"),
        (4, "market_id is empty"),
    ]
    assert report.rows_used == 2


def test_timestamp_columns_iso_text_and_decimal_text(tmp_path: Path) -> None:
    start = datetime.fromtimestamp(T0_S, tz=UTC)
    table = pa.table(
        {
            "timestamp": pa.array([start, start], pa.timestamp("ms", tz="UTC")),
            "market_id": ["m", "m"],
            "best_bid": ["0.50", "0.51"],
            "best_ask": ["0.52", "0.53"],
            "window_end": ["2026-08-04T22:10:00Z", "2026-08-04T22:10:00Z"],
        }
    )
    parquet = tmp_path / "t.parquet"
    pq.write_table(table, parquet)
    data = load(parquet)
    assert [(e.ts_ms, e.bid) for e in data.events[1:]] == [(T0_S * 1000, 500_000), (T0_S * 1000, 510_000)]


def test_not_parquet_and_missing_columns_are_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "x.parquet"
    fake.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"x\.parquet: not a Parquet file"):
        load(fake)
    parquet = tmp_path / "y.parquet"
    pq.write_table(pa.table({"time": [1], "bid": [0.5]}), parquet)
    with pytest.raises(DataError, match="Parquet columns do not match: missing timestamp"):
        load(parquet)


def test_without_the_extra_the_error_names_it(tmp_path: Path) -> None:
    parquet = tmp_path / "z.parquet"
    pq.write_table(pa.table({"timestamp": [T0_S]}), parquet)
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"  # as if pyarrow were not installed
        "from bot.feeds.formats import load, DataError\n"
        f"try:\n    load({str(parquet)!r})\nexcept DataError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    extra = "parquet input needs the optional extra 'data': pip install 'touchtrader[data]' (pyarrow, numpy)"
    assert out == f"{parquet}: {extra}\n"


def per_token_table(n: int, times: list[int] | None = None) -> pa.Table:
    """n rows alternating UP and DOWN tokens of two markets, prices on 0.01 or 0.001."""
    return pa.table(
        {
            "timestamp": pa.array(times or [(T0_S + i // 4) * 1000 for i in range(n)], pa.int64()),
            "market": [f"m{i // 2 % 2}" for i in range(n)],
            "asset_id": pa.array([i % 4 for i in range(n)], pa.int64()),  # integer token ids
            "side": ["Up" if i % 2 == 0 else "Down" for i in range(n)],
            # every third DOWN row quotes 0.2/0.3: the UP view 0.7/0.8 crosses the UP book
            "best_bid": [
                0.2 if i % 6 == 1 else round(0.4 + i % 7 / 100 + (0.005 if i % 11 == 0 else 0), 3)
                for i in range(n)
            ],
            "best_ask": [0.3 if i % 6 == 1 else round(0.6 + i % 5 / 100, 2) for i in range(n)],
            "bid_size": [float(1 + i % 3) for i in range(n)],
            "ask_size": [2.5] * n,
            "window_end": [END_S] * n,
            "winner": ["" if i < n - 4 else ("1" if i % 2 == 0 else "0") for i in range(n)],
        }
    )


COLUMNS = {"market_id": "market", "token_id": "asset_id", "token_outcome": "side", "outcome": "winner"}


def test_clean_rows_per_token_take_the_columnar_path_with_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.feeds.formats import parquet

    taken: list[bool] = []
    real = parquet.fast_tokens
    monkeypatch.setattr(parquet, "fast_tokens", lambda *a: taken.append((got := real(*a)) is not None) or got)
    parquet_path, csv_path = write_both(tmp_path, per_token_table(400))
    fast, slow = load(parquet_path, columns=COLUMNS), load(csv_path, columns=COLUMNS)
    assert taken == [True]
    assert fast.events == slow.events
    assert {m.market_id: m.tick for m in (e.market for e in fast.events if hasattr(e, "market"))} == {
        "m0": 1_000,
        "m1": 1_000,
    }
    assert fast.report.books_disagree == slow.report.books_disagree > 0
    assert (fast.report.rows_used, fast.report.ignored) == (slow.report.rows_used, slow.report.ignored)


def test_rows_the_columnar_path_cannot_explain_go_through_the_row_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.feeds.formats import parquet

    taken: list[bool] = []
    real = parquet.fast_tokens
    monkeypatch.setattr(parquet, "fast_tokens", lambda *a: taken.append((got := real(*a)) is not None) or got)
    times = [(T0_S + i // 4) * 1000 for i in range(40)]
    times[20] = T0_S * 1000  # token 0 goes back in time
    parquet_path, csv_path = write_both(tmp_path, per_token_table(40, times))
    fast, slow = load(parquet_path, columns=COLUMNS), load(csv_path, columns=COLUMNS)
    assert taken == [False]
    assert fast.events == slow.events
    assert fast.report.malformed == [
        (21, "time goes backwards for 0 (2026-08-04T22:05:00.000Z after 2026-08-04T22:05:04.000Z)")
    ]
