"""A gzip'd CSV (``.csv.gz``) read by pyarrow (bot.feeds.formats.csvarrow, csvblocks.Gunzipped):
the same events, report, malformed rows and errors as the Python reader, whole, cut short
anywhere (the rows before the cut used, the report saying the file ends early; nothing
readable: the one-line error naming the file) and handing a block to the Python reader."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from bot.feeds.formats import DataError, csvarrow, load
from bot.feeds.formats.core import _Collector, _MarketAcc
from bot.feeds.formats.csvfile import settings
from bot.feeds.formats.streaming import StreamedCsv, stream_csv
from tests.unit.test_formats_streaming import TOKEN_COLUMNS, per_token_rows

pytest.importorskip("pyarrow")


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvarrow, "MIN_BYTES", 0)
    monkeypatch.setattr(csvarrow, "BLOCK_BYTES", 16384)


def both(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[Any]:
    """load() by pyarrow and by the Python reader: (events, report) or the error's text."""
    got = []
    for reader in ("", "python"):
        with monkeypatch.context() as m:
            m.setenv(csvarrow.ENV, reader)
            try:
                data = load(path, fmt="csv", columns=TOKEN_COLUMNS)
            except DataError as exc:
                got.append(str(exc))
            else:
                got.append((data.events, data.report))
    return got


def read_by_pyarrow(path: Path) -> int | None:
    """The line the Python reader took over at (None: pyarrow read every row)."""
    col = _Collector(path, "csv", False)
    markets: dict[str, _MarketAcc] = {}
    got = csvarrow.read_arrow(path, col, settings(path, col, {"columns": TOKEN_COLUMNS}), markets)
    assert got is not None
    return got[1]


def gzipped(tmp_path: Path, text: str, name: str = "tokens.csv.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    return path


def test_a_gzipped_file_is_read_by_pyarrow_as_the_python_reader_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = gzipped(tmp_path, per_token_rows(1500))
    assert read_by_pyarrow(path) is None
    fast, slow = both(monkeypatch, path)
    assert fast == slow
    assert not fast[1].truncated
    runs = []
    for reader in ("", "python"):  # streamed too
        monkeypatch.setenv(csvarrow.ENV, reader)
        streamed = stream_csv(path, columns=TOKEN_COLUMNS)
        assert isinstance(streamed, StreamedCsv)
        runs.append((list(streamed.events()), streamed.report))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("keep", [0.15, 0.5, 0.93, 0.999])
def test_a_cut_gzipped_file_uses_the_same_rows_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: float
) -> None:
    """Cut anywhere (mid-line, mid-block): the rows before the cut, the same report, and
    the note that the compressed file ends early."""
    text = per_token_rows(1500)
    data = gzip.compress(text.encode(), mtime=0)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: int(len(data) * keep)])
    fast, slow = both(monkeypatch, path)
    assert fast == slow
    report = fast[1]
    assert report.truncated
    assert any(note.startswith("compressed CSV ends early (") for note in report.notes)
    assert 0 < report.rows_read < text.count("\n") - 1


def test_a_gzipped_file_cut_before_any_row_is_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = gzip.compress(per_token_rows(1500).encode(), mtime=0)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[:40])
    fast, slow = both(monkeypatch, path)
    assert fast == slow
    assert fast.startswith(f"{path}: not readable gzip data (")


def test_a_gzipped_file_handed_to_the_python_reader_then_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quoted field part-way (the rest of the file goes to the Python reader, reading the
    decompressed text from that block's first line), a bad row in a clean block before it,
    and the file cut after both: the same rows, reasons, lines and note."""
    lines = per_token_rows(1500).splitlines(keepends=True)
    fields = lines[300].split(",")
    lines[300] = ",".join([fields[0], fields[1], fields[2], fields[3], "0.5x", *fields[5:]])
    fields = lines[1800].split(",")
    lines[1800] = ",".join([fields[0], f'"{fields[1]}"', *fields[2:]])
    whole = gzipped(tmp_path, "".join(lines), "whole.csv.gz")
    taken = read_by_pyarrow(whole)
    assert taken is not None
    assert 2 < taken <= 1801
    fast, slow = both(monkeypatch, whole)
    assert fast == slow
    assert "best_bid '0.5x' is not a number" in dict(fast[1].malformed)[301]
    data = whole.read_bytes()
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: int(len(data) * 0.9)])
    fast, slow = both(monkeypatch, path)
    assert fast == slow
    assert fast[1].truncated
    assert 301 in dict(fast[1].malformed)
