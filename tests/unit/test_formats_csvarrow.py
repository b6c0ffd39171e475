"""A CSV read by pyarrow a block at a time (bot.feeds.formats.csvarrow): the same events,
report, malformed rows (line numbers and reasons) and errors as the Python reader, on clean
files and on files it must hand back to the Python reader part-way."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds.formats import DataError, csvarrow, load
from bot.feeds.formats.core import _Collector, _MarketAcc
from bot.feeds.formats.csvfile import settings
from bot.feeds.formats.streaming import StreamedCsv, stream_csv, stream_file
from tests.unit.test_formats_streaming import TOKEN_COLUMNS, per_market_rows, per_token_rows

pytest.importorskip("pyarrow")


@pytest.fixture(autouse=True)
def short_files_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are short: read them with pyarrow all the same."""
    monkeypatch.setattr(csvarrow, "MIN_BYTES", 0)


def both(monkeypatch: pytest.MonkeyPatch, path: Path, **options: object) -> tuple[object, object]:
    """load() by pyarrow, then by the Python reader (TOUCHTRADER_CSV_READER=python)."""
    fast = load(path, fmt="csv", **options)
    with monkeypatch.context() as m:
        m.setenv(csvarrow.ENV, "python")
        slow = load(path, fmt="csv", **options)
    return fast, slow


def python_from(path: Path, **options: object) -> int | None:
    """The line the Python reader took over at (None: pyarrow read every row); asserts that
    the file was for the pyarrow reader at all."""
    col = _Collector(path, "csv", False)
    markets: dict[str, _MarketAcc] = {}
    got = csvarrow.read_arrow(path, col, settings(path, col, options), markets)
    assert got is not None
    return got[1]


def test_a_clean_file_gives_the_same_events_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, text, options in (
        ("markets.csv", per_market_rows(1500), {}),
        ("tokens.csv", per_token_rows(1500), {"columns": TOKEN_COLUMNS}),
    ):
        path = tmp_path / name
        path.write_text(text)
        assert python_from(path, **options) is None
        fast, slow = both(monkeypatch, path, **options)
        assert fast.events == slow.events  # type: ignore[attr-defined]
        assert fast.report == slow.report  # type: ignore[attr-defined]
        if name == "markets.csv":  # crossed books, by line; naive ISO times, counted
            assert fast.report.malformed  # type: ignore[attr-defined]
        assert fast.report.notes == slow.report.notes  # type: ignore[attr-defined]


BROKEN = {
    40: "1785881119000,m0,01,Up,0.5x,0.52,5,6,1785881400,\n",  # not a number
    41: "1785881119000,m0,01,Up,0.53,0.52,5,6,1785881400,\n",  # crossed
    42: "1785881119000,m0,01,Up,0.505,0.52,-5,6,1785881400,\n",  # off tick, negative size
    43: "2026-08-04T22:05:19,m0,01,Up,0.50,0.52,5,6,1785881400,\n",  # naive ISO time: good
    44: "1785881119000,,01,Up,0.50,0.52,5,6,,\n",  # no market, no window end
    45: "99,m0,01,Up,0.50,0.52,5,6,1785881400,\n",  # time out of range
    46: "1785881119000,m0,01,Sideways,0.50,0.52,5,6,1785881400,\n",  # not a side
    47: "1785881119000,m0, ,Up,0.50,0.52,5,6,1785881400,\n",  # empty token
    48: "1785881119000,m0,02,Up,0.50,0.52,5,6,1785881400,\n",  # token's side differs
    400: "1785881000000,m0,01,Up,0.50,0.52,5,6,1785881400,\n",  # time goes backwards
}
MARKET_DIFFERS = 1200  # in a block of good rows: its token's market differs


def broken_tokens() -> str:
    lines = per_token_rows(900).splitlines(keepends=True)
    for i, line in BROKEN.items():
        lines[i] = line
    fields = lines[MARKET_DIFFERS].split(",")
    lines[MARKET_DIFFERS] = ",".join([fields[0], "m99", *fields[2:]])
    return "".join(lines)


def test_many_blocks_and_bad_values_keep_their_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small blocks, and values each failing in its own way: every reason and line is the
    Python reader's, and the good rows around them are the same events."""
    path = tmp_path / "bad.csv"
    path.write_text(broken_tokens())
    monkeypatch.setattr(csvarrow, "BLOCK_BYTES", 4096)
    assert python_from(path, columns=TOKEN_COLUMNS) is None
    fast, slow = both(monkeypatch, path, columns=TOKEN_COLUMNS)
    assert fast.events == slow.events  # type: ignore[attr-defined]
    assert fast.report == slow.report  # type: ignore[attr-defined]
    reasons = dict(fast.report.malformed)  # type: ignore[attr-defined]
    assert {i + 1 for i in BROKEN} - {44} <= set(reasons)  # 44: a naive time is good, counted
    assert "best_bid '0.5x' is not a number" in reasons[41]
    assert "time goes backwards" in reasons[401]
    assert "differs from" in reasons[MARKET_DIFFERS + 1]


@pytest.mark.parametrize(
    ("anomaly", "why"),
    [
        ('1785881300,a1,"0.50",0.51,10,20,1785881400,\n', "a quoted field"),
        ("\n", "a blank line"),
        ("1785881300,a1,0.50,0.51,10\n", "a ragged row"),
        ("1785881300,a1,0.50,0.51,10,20,1785881400,\u00e9\n", "a non-ASCII character"),
    ],
)
def test_a_block_that_is_not_one_row_per_line_goes_to_the_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anomaly: str, why: str
) -> None:
    lines = per_market_rows(600).splitlines(keepends=True)
    at = 1200  # well after the first blocks
    lines.insert(at, anomaly)
    path = tmp_path / "odd.csv"
    path.write_text("".join(lines))
    monkeypatch.setattr(csvarrow, "BLOCK_BYTES", 4096)
    taken = python_from(path)
    assert taken is not None, why
    assert 1 < taken <= at + 1, why
    fast, slow = both(monkeypatch, path)
    assert fast.events == slow.events, why  # type: ignore[attr-defined]
    assert fast.report == slow.report, why  # type: ignore[attr-defined]


def test_a_crlf_file_is_read_by_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(per_market_rows(400).replace("\n", "\r\n").encode())
    assert python_from(path) is None
    fast, slow = both(monkeypatch, path)
    assert fast.events == slow.events  # type: ignore[attr-defined]
    assert fast.report == slow.report  # type: ignore[attr-defined]


def test_errors_are_the_python_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file refused whole gets the same one-line error (file, line, column, reason)."""
    good = per_market_rows(400).splitlines(keepends=True)
    cases = {
        "ambiguous.csv": (
            "".join([*good[:300], "1785881300,a1,0.50,0.51,10,20,1785881400,1\n", *good[300:]]),
            {},
        ),
        "strict.csv": (
            "".join([*good[:300], "1785881300,a1,0.50,0.50,10,20,1785881400,\n", *good[300:]]),
            {"strict": True},
        ),
        "latin1.csv": (None, {}),
    }
    for name, (text, options) in cases.items():
        path = tmp_path / name
        if text is None:
            data = "".join(good).encode()
            cut = len("".join(good[:350]).encode())
            path.write_bytes(data[:cut] + b"1785881300,a\xe91,0.50,0.51,10,20,1785881400,\n" + data[cut:])
        else:
            path.write_text(text)
        messages = []
        for reader in ("", "python"):
            with monkeypatch.context() as m:
                m.setattr(csvarrow, "BLOCK_BYTES", 4096)
                m.setenv(csvarrow.ENV, reader)
                with pytest.raises(DataError) as caught:
                    load(path, fmt="csv", **options)
            messages.append(str(caught.value))
        assert messages[0] == messages[1], name
        assert messages[0].startswith(f"{path}:"), name


def early_ends(text: str) -> str:
    """Market a's windows end 10 s early: its last rows are after the end (ignored)."""
    out = []
    for line in text.splitlines(keepends=True):
        fields = line.split(",")
        if fields[1].startswith("a") and fields[6].isdigit():
            fields[6] = str(int(fields[6]) - 10)
        out.append(",".join(fields))
    return "".join(out)


@pytest.mark.parametrize(
    ("text", "options", "cut"),
    [
        (per_token_rows(1200), {"columns": TOKEN_COLUMNS}, False),
        (broken_tokens(), {"columns": TOKEN_COLUMNS}, False),  # blocks not taken at once
        (per_market_rows(900), {}, False),  # crossed books and naive times: some blocks row by row
        (early_ends(per_market_rows(900)), {}, True),  # rows after the window end, counted
    ],
)
def test_a_streamed_file_gives_the_same_events_from_both_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, options: dict[str, object], cut: bool
) -> None:
    """Streamed, pyarrow's clean blocks are accepted at once (streaming._TailMarkets.take):
    the same events, report and spilled rows as the Python reader's row by row."""
    path = tmp_path / "rows.csv"
    path.write_text(text)
    monkeypatch.setattr(csvarrow, "BLOCK_BYTES", 8192)
    runs = []
    for reader in ("", "python"):
        monkeypatch.setenv(csvarrow.ENV, reader)
        streamed = stream_csv(path, **options)
        assert isinstance(streamed, StreamedCsv)
        runs.append((list(streamed.events()), streamed.report))
    assert runs[0] == runs[1]
    assert bool(runs[0][1].ignored) is cut


def test_a_streamed_file_out_of_time_order_is_loaded_whole_by_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = per_market_rows(600).splitlines(keepends=True)
    lines[900], lines[1500] = lines[1500], lines[900]
    path = tmp_path / "late.csv"
    path.write_text("".join(lines))
    monkeypatch.setattr(csvarrow, "BLOCK_BYTES", 4096)
    why = []
    for reader in ("", "python"):
        monkeypatch.setenv(csvarrow.ENV, reader)
        why.append(stream_file(path, "csv"))
    assert isinstance(why[0], str)
    assert why[0] == why[1]


@pytest.mark.parametrize(
    "value",
    ["5.", ".5", "0.50", "0005.50", "0.1234567", "0.5000000", "1.2.3", ".", "1e-1", "+0.5", "12345678901234"],
)
def test_odd_numbers_are_read_as_the_python_reader_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A size or a price in an odd form, in a block of plain ones: the same micros, or the same
    reason, as the Python reader's (Arrow's decimals are used only where they are exact)."""
    lines = per_market_rows(300).splitlines(keepends=True)
    for i in (100, 101):
        fields = lines[i].split(",")
        fields[4 if i == 100 else 2] = value  # a bid size; a bid
        lines[i] = ",".join(fields)
    path = tmp_path / "odd.csv"
    path.write_text("".join(lines))
    assert python_from(path) is None
    fast, slow = both(monkeypatch, path)
    assert fast.events == slow.events  # type: ignore[attr-defined]
    assert fast.report == slow.report  # type: ignore[attr-defined]


def test_a_backtest_writes_the_same_files_from_both_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bot backtest`'s whole output (the strategies and the three baselines, streamed) is
    byte for byte the same whichever reader parsed the CSV."""
    from bot import backtest
    from bot.config import load_config
    from bot.feeds.formats import streaming

    path = tmp_path / "tokens.csv"
    path.write_text(per_token_rows(1200))
    monkeypatch.setattr(streaming, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(csvarrow, "BLOCK_BYTES", 8192)
    outputs = []
    for reader in ("", "python"):
        monkeypatch.setenv(csvarrow.ENV, reader)
        out = tmp_path / (reader or "pyarrow") / "results"
        result = backtest.run_backtest(
            path, load_config(None), out, options={"columns": TOKEN_COLUMNS}, baselines=True
        )
        assert result.summary["data"]["loading"]["streamed"] is True
        assert result.summary["trades"] > 0
        outputs.append(
            {
                p.relative_to(out): p.read_bytes()
                for p in sorted(out.rglob("*"))
                if p.is_file() and p.name != "timing.json"
            }
        )
    assert any(str(name).startswith("baselines") for name in outputs[0])
    assert outputs[0] == outputs[1]
