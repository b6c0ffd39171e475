"""``load`` of a CSV of rows per token read by pyarrow, every row clean: checked and paired
on whole arrays (bot.feeds.formats.columnar.whole_tokens) with the same events, report,
malformed rows (line numbers and every reason) and errors as the Python reader; a file
that does not qualify (a bad row, rows that disagree across blocks) is read row by row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.feeds.formats import DataError, csvarrow, load
from tests.unit.test_formats_streaming import TOKEN_COLUMNS, per_token_rows

pytest.importorskip("pyarrow")


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short files, read by pyarrow all the same, in many blocks."""
    monkeypatch.setattr(csvarrow, "MIN_BYTES", 0)
    monkeypatch.setattr(csvarrow, "BLOCK_BYTES", 4096)


@pytest.fixture
def whole(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each call of whole_tokens: whether it paired the file (True) or handed it back."""
    calls: list[bool] = []
    real = csvarrow.whole_tokens

    def spy(*args: Any) -> Any:
        got = real(*args)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(csvarrow, "whole_tokens", spy)
    return calls


def both(monkeypatch: pytest.MonkeyPatch, path: Path) -> tuple[Any, Any]:
    """load() by pyarrow, then by the Python reader."""
    fast = load(path, fmt="csv", columns=TOKEN_COLUMNS)
    with monkeypatch.context() as m:
        m.setenv(csvarrow.ENV, "python")
        slow = load(path, fmt="csv", columns=TOKEN_COLUMNS)
    return fast, slow


def edited(lines: list[str], at: int, **values: str) -> None:
    """Line `at` (0: the header) with some of its fields replaced."""
    names = lines[0].strip().split(",")
    fields = lines[at].rstrip("\n").split(",")
    for name, value in values.items():
        fields[names.index(name)] = value
    lines[at] = ",".join(fields) + "\n"


def test_a_clean_file_is_paired_on_whole_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: list[bool]
) -> None:
    """Crossed complements, two rows of a token at one time, one token alone at a time,
    outcomes 1/0: the same events and report as the Python reader's, row by row."""
    path = tmp_path / "tokens.csv"
    path.write_text(per_token_rows(1500))
    fast, slow = both(monkeypatch, path)
    assert whole == [True]
    assert fast.events == slow.events
    assert fast.report == slow.report
    assert fast.report.books_disagree > 0
    assert fast.report.notes == slow.report.notes


def lines_of(seconds: int = 1500) -> list[str]:
    return per_token_rows(seconds).splitlines(keepends=True)


def market_differs(lines: list[str]) -> int:
    edited(lines, 2000, market="m99")
    return 2000


def time_goes_back(lines: list[str]) -> int:
    lines[1500], lines[1530] = lines[1530], lines[1500]
    return 1530


def winner_differs(lines: list[str]) -> int:
    # a token's last row says it won, an earlier one that it lost
    at = next(i for i in range(1, len(lines)) if lines[i].rstrip("\n").endswith(",1"))
    token = lines[at].split(",")[2]
    before = next(i for i in range(at - 1, 0, -1) if lines[i].split(",")[2] == token)
    edited(lines, before, winner="0")
    return at  # refused: the later row


def window_end_differs(lines: list[str]) -> int:
    end = lines[1800].split(",")[8]
    edited(lines, 1800, window_end=str(int(end) + 300))
    return 1800


@pytest.mark.parametrize("change", [market_differs, time_goes_back, winner_differs, window_end_differs])
def test_rows_that_disagree_across_blocks_are_read_row_by_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: list[bool], change: Any
) -> None:
    """Every row is clean alone, but a token's rows disagree (its market, time order,
    outcome, window end): the whole-array pairing hands the file back, and the rows are
    accepted one by one, each refused row at its line with the Python reader's reason."""
    lines = lines_of()
    at = change(lines)
    path = tmp_path / "tokens.csv"
    path.write_text("".join(lines))
    fast, slow = both(monkeypatch, path)
    assert whole == [False]
    assert fast.events == slow.events
    assert fast.report == slow.report
    lines_refused = dict(fast.report.malformed)
    assert at + 1 in lines_refused, lines_refused  # line numbers count the header as 1


def test_a_bad_row_in_a_later_block_keeps_its_line_and_every_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: list[bool]
) -> None:
    """The blocks before a bad one were kept whole: they are accepted row by row, then the
    bad block's rows, then the rest; the bad row's every reason is given at its line."""
    lines = lines_of()
    edited(lines, 1700, best_bid="0.5x", bid_size="-5", side="Sideways")
    path = tmp_path / "tokens.csv"
    path.write_text("".join(lines))
    fast, slow = both(monkeypatch, path)
    assert whole == []  # never tried: not every block was clean
    assert fast.events == slow.events
    assert fast.report == slow.report
    reason = dict(fast.report.malformed)[1701]
    for part in ("best_bid '0.5x' is not a number", "bid_size -5 is negative", "Sideways"):
        assert part in reason, reason


def test_rows_after_the_window_end_do_not_set_the_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: list[bool]
) -> None:
    """Rows at or after the window end are counted and dropped; a finer tick on them is not
    the market's (as the row path, which never keeps them)."""
    lines = lines_of(900)
    header = lines[0].strip().split(",")
    late = []
    for line in lines[1:]:
        fields = line.rstrip("\n").split(",")
        if fields[header.index("winner")]:  # a window's last second: a row after its end
            fields[header.index("timestamp")] = fields[header.index("window_end")] + "000"
            fields[header.index("best_bid")] = "0.401"
            fields[header.index("best_ask")] = "0.403"
            fields[header.index("winner")] = ""
            late.append(",".join(fields) + "\n")
    path = tmp_path / "tokens.csv"
    path.write_text("".join(lines) + "".join(late))
    fast, slow = both(monkeypatch, path)
    assert whole == [True]
    assert fast.events == slow.events
    assert fast.report == slow.report
    assert fast.report.ignored == {"row at or after window end": len(late)}


@pytest.mark.parametrize(
    "value",
    [
        "5.",
        ".5",
        "0.50",
        "0005.50",
        "1234567",
        "0.1234567",
        "0.5000000",
        "1.2.3",
        ".",
        "1e-1",
        "+0.5",
        " 7",
        "1e999999999",
    ],
)
def test_odd_numbers_are_read_as_the_python_reader_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A size and a price in an odd form, in blocks of plain ones (read through doubles when
    short, decimals when long, the Python parser when neither is exact): the same micros, or
    the same reasons at the same lines."""
    lines = lines_of(600)
    edited(lines, 300, bid_size=value)
    edited(lines, 301, best_bid=value)
    path = tmp_path / "tokens.csv"
    path.write_text("".join(lines))
    fast, slow = both(monkeypatch, path)
    assert fast.events == slow.events
    assert fast.report == slow.report


def test_two_up_tokens_in_a_market_is_the_same_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = lines_of(600)
    token = lines[1].split(",")[2]
    for i in range(1, len(lines)):
        fields = lines[i].split(",")
        if fields[1] == "m0" and fields[2] != token:
            edited(lines, i, side="Up")
    path = tmp_path / "tokens.csv"
    path.write_text("".join(lines))
    messages = []
    for reader in ("", "python"):
        with monkeypatch.context() as m:
            m.setenv(csvarrow.ENV, reader)
            with pytest.raises(DataError) as caught:
                load(path, fmt="csv", columns=TOKEN_COLUMNS)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"{path}:")
    assert "both UP" in messages[0]


def test_rows_out_of_time_order_across_tokens_are_still_paired_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: list[bool]
) -> None:
    """A row of one token before an earlier row of another: each token's rows are still in
    time order, so the file is paired on whole arrays, as the row path pairs it."""
    lines = lines_of(900)
    at = next(
        i
        for i in range(1000, len(lines) - 1)
        if lines[i].split(",")[2] != lines[i + 1].split(",")[2]
        and lines[i].split(",")[0] != lines[i + 1].split(",")[0]
        and lines[i].split(",")[1] == lines[i + 1].split(",")[1]
    )
    lines[at], lines[at + 1] = lines[at + 1], lines[at]
    path = tmp_path / "tokens.csv"
    path.write_text("".join(lines))
    fast, slow = both(monkeypatch, path)
    assert whole == [True]
    assert fast.events == slow.events
    assert fast.report == slow.report
