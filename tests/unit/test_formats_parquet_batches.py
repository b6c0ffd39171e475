"""A Parquet batch's token columns (market, side, outcome) read once per distinct value and
combination, not per row (issue 13): the same values, bad rows and errors as reading them
row by row, and a streamed file with bad rows, mixed outcome forms and missing market ids
gives what ``load`` (and the same rows as a CSV) give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bot.feeds.formats import DataError, load, streaming
from bot.feeds.formats.core import _Collector
from bot.feeds.formats.csvfile import settings, start_rows
from bot.feeds.formats.parquet import _Batch
from bot.feeds.formats.values import _outcome
from tests.unit.test_formats_streaming import TOKEN_COLUMNS, per_token_rows
from tests.unit.test_formats_streaming_parquet import same_as_load, to_parquet

SIDES = ["Up", " up", "UP ", "down", "Down", None, "", "  ", "sideways", "Yes", "no"]
MARKETS = ["m1", " m1 ", None, "", "m2", "  "]
WINNERS = ["", None, "1", " 0", "UP", "up"]


def row_by_row(table: pa.Table, name: str) -> tuple[list[tuple[Any, ...]], list[bool]]:
    """Each row's (market, side, verdict) and whether it is bad, one row at a time (what
    the batch reader did before it read each distinct value once)."""
    out, bad = [], []
    for row in table.to_pylist():
        market = "" if row["market"] is None else str(row["market"]).strip()
        side, wrong = None, False
        value = row["side"]
        if value is not None and not (isinstance(value, str) and not value.strip()):
            try:
                side = _outcome(value, name)
            except ValueError:
                wrong = True
        verdict = "" if row["winner"] is None else str(row["winner"]).strip()
        out.append((market or None, side, verdict))
        bad.append(wrong)
    return out, bad


def batch_of(tmp_path: Path, table: pa.Table, dictionary: bool) -> _Batch:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    col = _Collector(path, "parquet", False)
    col.report.row_unit = "row"  # as read_parquet_rows sets it
    setup = settings(path, col, {"columns": TOKEN_COLUMNS})
    header = list(table.schema.names)
    rows = start_rows(path, col, header, setup, "Parquet")
    keys = ["market", "asset_id", "side", "winner"] if dictionary else []
    batch = pq.ParquetFile(path, read_dictionary=keys).read().combine_chunks().to_batches()[0]
    return _Batch(rows, header, batch, 0, np, pa)


def token_table(n: int, seed: int, side_type: Any = None) -> pa.Table:
    side_type = side_type or pa.string()
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "timestamp": pa.array(1_800_000_000_000 + np.arange(n) * 1000, pa.int64()),
            "market": pa.array([MARKETS[i] for i in rng.integers(0, len(MARKETS), n)], pa.string()),
            "asset_id": pa.array([f"t{i}" for i in rng.integers(0, 5, n)], pa.string()),
            "side": pa.array([SIDES[i] for i in rng.integers(0, len(SIDES), n)], side_type),
            "best_bid": pa.array([0.4] * n),
            "best_ask": pa.array([0.5] * n),
            "bid_size": pa.array([1.0] * n),
            "ask_size": pa.array([1.0] * n),
            "window_end": pa.array([1_800_000_900_000] * n, pa.int64()),
            "winner": pa.array([WINNERS[i] for i in rng.integers(0, len(WINNERS), n)], pa.string()),
        }
    )


@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("side_type", [pa.string(), pa.large_string()])
def test_token_columns_per_combination_are_the_row_by_row_values(
    tmp_path: Path, dictionary: bool, side_type: Any
) -> None:
    table = token_table(2000, 5, side_type)
    batch = batch_of(tmp_path, table, dictionary)
    combos, codes = batch.token_columns()
    assert len(set(combos)) == len(combos)  # each combination once
    expected, bad = row_by_row(table, "side")
    assert [combos[c] for c in codes.tolist()] == expected
    assert batch.bad.tolist() == bad
    assert any(bad)
    assert not all(bad)


def test_an_ambiguous_side_is_refused_at_its_first_row_as_row_by_row(tmp_path: Path) -> None:
    table = token_table(300, 8)
    sides = table.column("side").to_pylist()
    sides[117], sides[200] = "1", "true"  # say whether a token won: not a side
    table = table.set_column(3, "side", pa.array(sides, pa.string()))
    with pytest.raises(DataError) as exc:
        batch_of(tmp_path, table, True).token_columns()
    assert str(exc.value).startswith(f"{tmp_path / 't.parquet'}: row 118: column side: '1'")
    with pytest.raises(DataError) as loaded:
        load(tmp_path / "t.parquet", columns=TOKEN_COLUMNS)
    assert str(loaded.value) == str(exc.value)


def messy(text: str) -> str:
    """Rows per token with mixed side forms, blank and missing market ids and bad sides."""
    header, *lines = text.splitlines(keepends=True)
    out = [header]
    forms = {"Up": ["Up", " up", "UP"], "Down": ["Down", "down ", "DOWN"]}
    for i, line in enumerate(lines):
        cells = line.split(",")
        cells[3] = forms[cells[3]][i % 3]
        if i % 97 == 5:
            cells[1] = ""  # a token's market id missing in some rows
        if i % 1201 == 77:
            cells[3] = "sideways"  # a bad row
        out.append(",".join(cells))
    return "".join(out)


@pytest.mark.parametrize("batch_rows", [64, 1000, 1 << 16])
def test_messy_token_rows_stream_as_load_and_the_csv_read_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    monkeypatch.setattr(streaming, "PARQUET_BATCH_ROWS", batch_rows)
    text = messy(per_token_rows(3 * 300 * 4))
    path = to_parquet(text, tmp_path / "messy.parquet", 3000)
    loaded = load(path, columns=TOKEN_COLUMNS)
    assert loaded.report.malformed_total > 0
    same_as_load(path, columns=TOKEN_COLUMNS)
    csv = load(path.with_suffix(".csv"), columns=TOKEN_COLUMNS)
    assert csv.events == loaded.events
    assert [m[1] for m in csv.report.malformed] == [m[1] for m in loaded.report.malformed]


def test_a_token_whose_market_differs_is_refused_as_load_refuses_it(tmp_path: Path) -> None:
    header, *lines = per_token_rows(600).splitlines(keepends=True)
    cells = lines[400].split(",")
    cells[1] = "elsewhere"  # the token's market changes in a later batch
    lines[400] = ",".join(cells)
    path = to_parquet(header + "".join(lines), tmp_path / "moved.parquet", 10_000)
    loaded = load(path, columns=TOKEN_COLUMNS)
    assert any("differs from" in why for _, why in loaded.report.malformed)
    same_as_load(path, columns=TOKEN_COLUMNS)
