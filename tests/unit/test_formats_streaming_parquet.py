"""A Parquet file in time order streamed (issue 13, memory flat with file length): the same
events, report and errors as ``load``, read a batch of rows at a time; what `bot backtest`
says about how it read a file (streamed, or read whole and why)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from bot.feeds.formats import DataError, load
from bot.feeds.formats.streaming import stream_file
from tests.unit.test_formats_streaming import (
    TOKEN_COLUMNS,
    WINDOW_S,
    per_market_rows,
    per_token_rows,
    without_loading,
)

TEXT = ("market", "asset_id", "side", "winner", "market_id", "outcome", "timestamp")


def to_parquet(text: str, path: Path, row_group_rows: int) -> Path:
    """The CSV text as a Parquet file of row groups of `row_group_rows` rows, its keys and
    outcomes as text (times as text too when some are ISO times)."""
    csv = path.with_suffix(".csv")
    csv.write_text(text)
    header = text.split("\n", 1)[0].split(",")
    types = {name: pa.string() for name in header if name in TEXT}
    if "timestamp" in types and not any("T" in line.split(",", 1)[0] for line in text.splitlines()[1:]):
        types["timestamp"] = pa.int64()
    table = pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(column_types=types))
    pq.write_table(table, path, row_group_size=row_group_rows)
    return path


def same_as_load(path: Path, **options: object) -> None:
    loaded = load(path, **options)
    streamed = stream_file(path, "parquet", **options)
    assert not isinstance(streamed, str), streamed
    finished = []
    assert list(streamed.events(finished.append)) == loaded.events
    assert finished == [streamed.report]
    assert streamed.report.to_dict() == loaded.report.to_dict()
    assert list(streamed.events()) == loaded.events  # replayed from the record


def test_rows_per_token_stream_as_load_reads_them(tmp_path: Path) -> None:
    path = to_parquet(per_token_rows(3 * WINDOW_S * 10), tmp_path / "tokens.parquet", 5000)
    assert pq.ParquetFile(path).metadata.num_row_groups > 3
    loaded = load(path, columns=TOKEN_COLUMNS)
    assert loaded.report.books_disagree > 0
    same_as_load(path, columns=TOKEN_COLUMNS)


def test_rows_per_market_with_bad_rows_stream_as_load_reads_them(tmp_path: Path) -> None:
    path = to_parquet(per_market_rows(2 * WINDOW_S * 10), tmp_path / "markets.parquet", 7000)
    loaded = load(path)
    assert loaded.report.malformed_total > 0  # crossed books, named by row and row group
    assert loaded.report.notes  # the ISO times without a time zone
    same_as_load(path)


def test_a_parquet_file_out_of_time_order_is_read_whole(tmp_path: Path) -> None:
    header, *rows = per_market_rows(40).splitlines(keepends=True)
    rows[10], rows[50] = rows[50], rows[10]
    path = to_parquet(header + "".join(rows), tmp_path / "shuffled.parquet", 1000)
    why = stream_file(path, "parquet")
    assert isinstance(why, str)
    assert why.startswith("its rows are not in time order (a row at ")
    assert load(path).report.rows_used > 0  # read whole and sorted, as always


def test_errors_are_the_ones_load_raises(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"timestamp": [1], "best_bid": [0.5]}), path)
    for options in ({}, {"spred": 1}, {"strict": "yes"}):
        with pytest.raises(DataError) as loaded:
            load(path, fmt="parquet", **options)
        with pytest.raises(DataError) as streamed:
            stream_file(path, "parquet", **options)
        assert str(streamed.value) == str(loaded.value)


def backtest(data: Path, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bot", "backtest", str(data), "--out", str(out), "--quiet"]
    for option in options:
        command += ["--option", option]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=out.parent)


def files(out: Path) -> dict[Path, bytes]:
    return {
        p.relative_to(out): without_loading(p.read_bytes())
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "timing.json"
    }


def test_bot_backtest_says_how_it_read_the_file_and_streams_past_the_threshold(tmp_path: Path) -> None:
    path = to_parquet(per_token_rows(2 * WINDOW_S), tmp_path / "tokens.parquet", 400)
    columns = "columns=" + json.dumps(TOKEN_COLUMNS)
    whole = backtest(path, tmp_path / "whole", columns)
    assert whole.returncode == 0, whole.stderr
    loading = json.loads((tmp_path / "whole" / "summary.json").read_bytes())["data"]["loading"]
    assert loading["streamed"] is False
    assert "under the streaming threshold of 16 MiB (--option stream_min_mb=N)" in loading["reason"]
    assert f"data: {loading['reason']}" in whole.stdout.splitlines()
    assert "Loading" in (tmp_path / "whole" / "report.html").read_text()
    streamed = backtest(path, tmp_path / "streamed", columns, "stream_min_mb=0")
    assert streamed.returncode == 0, streamed.stderr
    loading = json.loads((tmp_path / "streamed" / "summary.json").read_bytes())["data"]["loading"]
    assert loading["streamed"] is True
    assert "read whole" not in streamed.stdout
    # the baselines too; every file the same but the line on how the data was read
    assert (tmp_path / "streamed" / "baselines" / "hold_up" / "summary.json").exists()
    assert files(tmp_path / "streamed") == files(tmp_path / "whole")


def test_bot_backtest_says_why_a_file_out_of_order_is_read_whole(tmp_path: Path) -> None:
    header, *rows = per_market_rows(40).splitlines(keepends=True)
    rows[10], rows[50] = rows[50], rows[10]
    path = tmp_path / "shuffled.csv"
    path.write_text(header + "".join(rows))
    done = backtest(path, tmp_path / "out", "stream_min_mb=0")
    assert done.returncode == 0, done.stderr
    reason = json.loads((tmp_path / "out" / "summary.json").read_bytes())["data"]["loading"]["reason"]
    assert reason.startswith("read whole and sorted in memory: its rows are not in time order")
    assert f"data: {reason}" in done.stdout.splitlines()


@pytest.mark.parametrize("value", ["-1", "many", "true"])
def test_a_bad_threshold_is_one_line_exit_2(tmp_path: Path, value: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(per_market_rows(10))
    done = backtest(path, tmp_path / "out", f"stream_min_mb={value}")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "option stream_min_mb=" in lines[0]
    assert "expected a number of MiB, 0 or more" in lines[0]
