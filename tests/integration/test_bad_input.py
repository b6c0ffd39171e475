"""Every input of `bot backtest`, `bot download` and `bot compare` that cannot be read gives ONE
line on stderr naming the file, the line and column where known, and the reason, and exit
code 2: never a traceback, never a silently empty result (issue 13, "Bad input").

All the inputs are written once into one folder. Spawning the bot costs about a second on
the loaded CI machine, so most cases call the CLI in-process (typer's runner, stderr kept
apart; an exception that escapes the command shows as `result.exception`, the in-process
traceback), and a representative few run `python -m bot` as a subprocess, where a traceback
or a warning would be on stderr (pytest catches warnings in-process).
"""

from __future__ import annotations

import gzip
import http.server
import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.feeds.tape import TapeWriter
from bot.model import ONE, BookTick, Market, WindowOpened

T0 = 1_800_000_000
HEADER = "timestamp,market_id,best_bid,best_ask,window_end,outcome"
TOKENS = "timestamp,market_id,token_id,token_outcome,best_bid,best_ask,window_end,outcome"


def rows(n: int = 20, outcome: str = "UP", market: str = "M1") -> list[str]:
    return [f"{T0 + i},{market},0.{40 + i % 10},0.{42 + i % 10},{T0 + 300},{outcome}" for i in range(n)]


def csv_text(lines: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


@dataclass(frozen=True)
class Case:
    """argv (@NAME: a file in the folder), the file the message names, where in it (":2:6" for
    line 2 column 6, ": row 1" for Parquet, "" for the whole file), and words of the reason."""

    argv: tuple[str, ...]
    file: str
    place: str
    reasons: tuple[str, ...]
    after: str = ": "  # what follows the file and place


def write_inputs(d: Path) -> None:
    def text(name: str, body: str) -> None:
        (d / name).write_text(body)

    def raw(name: str, body: bytes) -> None:
        (d / name).write_bytes(body)

    text("good.csv", csv_text(rows()))
    (d / "emptydir").mkdir()
    text("empty.csv", "")
    raw("binary.dat", bytes(range(256)) * 8)
    raw("binary.csv", b"\x00\x01\x02,\xff\xfe\n" * 40)
    text("header.csv", HEADER + "\n")
    latin = rows()
    latin[3] = latin[3].replace("M1", "M\xe9")
    raw("latin1.csv", csv_text(latin).encode("latin-1"))
    raw("utf16.csv", csv_text(rows()).encode("utf-16"))
    raw("gzbad.csv.gz", b"\x1f\x8b\x08\x00" + b"garbage" * 9)
    raw("gzlatin.csv.gz", gzip.compress(csv_text(latin).encode("latin-1"), mtime=0))
    text("allbad.csv", csv_text([f"{T0 + i},M1,abc,1.5,{T0 + 300},UP" for i in range(5)]))
    text("columns.csv", "when,what\n1,2\n")
    text("dup.csv", csv_text([r + ",0.4" for r in rows()], HEADER + ",best_bid"))
    text("flag.csv", csv_text(rows(outcome="1")))
    text("maybe.csv", csv_text(rows(outcome="maybe")))
    text("quote.csv", csv_text([f'{T0},"M1,0.4,0.42,{T0 + 300},UP']))
    text("nul.csv", csv_text(rows(market="M\x001")))
    text("fields.csv", csv_text([r + ",x" for r in rows()]))
    both = [f"{T0 + i},m1,t{k},Up,0.50,0.52,{T0 + 300},maybe" for i in range(3) for k in (1, 2)]
    text("bothup.csv", csv_text(both, TOKENS))
    verdicts = [f"{T0 + i},m1,t1,Up,0.50,0.52,{T0 + 300},perhaps" for i in range(3)]
    verdicts += [f"{T0 + i},m1,t2,Down,0.48,0.50,{T0 + 300},perhaps" for i in range(3)]
    text("verdict.csv", csv_text(verdicts, TOKENS))
    text(
        "noside.csv",
        f"timestamp,market_id,token_id,best_bid,best_ask,window_end\n{T0},m,t,0.5,0.52,{T0 + 9}\n",
    )
    sides = [f"{T0 + i},m1,{side},0.50,0.52,{T0 + 300}" for i in range(3) for side in ("Up", "Down")]
    text("sides.csv", csv_text(sides, "timestamp,market_id,token_outcome,best_bid,best_ask,window_end"))
    text("syntax.json", '{"history": [{"t": 1, "p": 0.5},')
    text("nohistory.json", '{"foo": 1}')
    text("points.json", json.dumps({"history": [{"t": "x", "p": 2}]}))
    text("side.json", json.dumps({"history": [{"t": T0, "p": 0.5}]}))
    text("side.meta.json", "{bad")
    text("tok.csv", "timestamp,token_id,best_bid,best_ask\n" + f"{T0},t1,0.5,0.52\n")
    text("meta-syntax.json", '[{"conditionId": 1,\n  oops}]')
    text("meta-empty.json", "[]")
    text("under-cols.csv", "a,b\n1,2\n")
    text("under-bad.csv", "timestamp,price\nx,y\nz,w\n")
    raw("under-latin.csv", f"timestamp,price\n{T0},9\xe97\n".encode("latin-1"))
    text("under.json", "{oops")
    raw("under-cut.csv.gz", gzip.compress(f"timestamp,price\n{T0},97000\n".encode() * 50, mtime=0)[:40])
    raw("tape.jsonl.gz", gzip.compress(b'{"e": "tape"\nnot json\n', mtime=0))
    text("tape-version.jsonl", '{"e":"tape","v":1}\n')
    raw("tape-lines.jsonl.gz", gzip.compress(b'{"e":"tape","version":1}\n{"e":"book"}\nnot json\n', mtime=0))
    text("bad.toml", "[risk\nx=1")
    (d / "dl").mkdir()
    text("dl/download.json", '{"books": "books.csv",\n "metadata": }')
    raw("junk.parquet", b"PAR1" + b"x" * 64)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # the `data` extra: its cases are skipped below
        return
    base = {"timestamp": [T0, T0 + 1], "market_id": ["M", "M"], "window_end": [T0 + 300] * 2}
    pq.write_table(pa.table({"when": [1], "what": [2]}), d / "columns.parquet")
    pq.write_table(
        pa.table({**base, "best_bid": ["abc", "0.4"], "best_ask": ["0.42", "x"]}), d / "bad.parquet"
    )
    flags = {**base, "best_bid": [0.4, 0.4], "best_ask": [0.42, 0.42], "outcome": ["1", "1"]}
    pq.write_table(pa.table(flags), d / "flag.parquet")
    empty = pa.table({k: [] for k in ("timestamp", "market_id", "best_bid", "best_ask", "window_end")})
    pq.write_table(empty, d / "empty.parquet")
    odd = {**base, "best_bid": [float("inf"), float("nan")], "best_ask": [1e300, 0.42]}
    pq.write_table(pa.table({**odd, "timestamp": [float("inf"), 1e300]}), d / "inf.parquet")
    raw("zipped.parquet.gz", gzip.compress((d / "flag.parquet").read_bytes(), mtime=0))
    groups = {k: v * 3 for k, v in flags.items()}
    groups["outcome"] = ["UP"] * 5 + ["1"]
    pq.write_table(pa.table(groups), d / "groups.parquet", row_group_size=2)


def case(*argv: str, file: str, place: str = "", reasons: tuple[str, ...] = (), after: str = ": ") -> Case:
    return Case(argv, file, place, reasons, after)


# how a bad FILE is given ({} is FILE)
AS_DATA = ("backtest", "@{}")
AS_UNDERLYING = ("backtest", "@good.csv", "--underlying", "@{}")  # beside good data
AS_METADATA = ("backtest", "@tok.csv", "--option", "metadata={}")  # a Gamma export for per-token data
# the line says "FILE{place}: ..." with each reason: (how FILE is given, FILE, place, *reasons)
FILE_CASES: dict[str, tuple[Any, ...]] = {
    # folders and files that are not data
    "missing file": (AS_DATA, "nope.csv", "", "no such file"),
    "empty folder": (AS_DATA, "emptydir", "", "download.json"),
    "empty file": (AS_DATA, "empty.csv", "", "empty file"),
    "binary file": (AS_DATA, "binary.dat", "", "unknown format"),
    "binary .csv": (AS_DATA, "binary.csv", ":1:5", "not UTF-8", "0xff"),
    "header only": (AS_DATA, "header.csv", "", "only a header line"),
    "latin-1 CSV": (AS_DATA, "latin1.csv", ":5:13", "not UTF-8", "0xe9"),
    "UTF-16 CSV": (AS_DATA, "utf16.csv", ":1:1", "not UTF-8"),
    "corrupt gzip": (AS_DATA, "gzbad.csv.gz", "", "gzip"),
    "gzip'd latin-1": (AS_DATA, "gzlatin.csv.gz", ":5:13", "not UTF-8"),
    # CSV rows and columns
    "no usable row, every reason": (
        AS_DATA,
        "allbad.csv",
        ":2",
        "best_bid 'abc'",
        "best_ask 1.5",
        "5 malformed",
    ),
    "wrong columns": (AS_DATA, "columns.csv", ":1", "missing timestamp", "found when, what"),
    "column twice": (AS_DATA, "dup.csv", ":1:7", "'best_bid' appears twice"),
    "1/0 outcome per market": (AS_DATA, "flag.csv", ":2:6", "column outcome", "expected UP/DOWN"),
    "unknown outcome": (AS_DATA, "maybe.csv", ":2", "'maybe'", "UP/DOWN"),
    "unbalanced quote": (AS_DATA, "quote.csv", ":2", "bad CSV"),
    "NUL in a market id": (AS_DATA, "nul.csv", ":2", "control character"),
    "field count": (AS_DATA, "fields.csv", ":2", "expected 6 fields"),
    "two UP tokens": (AS_DATA, "bothup.csv", ":3", "both UP"),
    "per-token outcome of no form": (
        AS_DATA,
        "verdict.csv",
        ":2:8",
        "column outcome",
        "'perhaps'",
        "expected",
    ),
    "a side column without token ids": (
        AS_DATA,
        "sides.csv",
        ":1:3",
        "'token_outcome'",
        "expected a column 'token_id'",
    ),
    "per-token without a side": (AS_DATA, "noside.csv", ":1", "which token is UP"),
    # price histories (JSON)
    "JSON syntax": (AS_DATA, "syntax.json", ":1:33", "not valid JSON"),
    "JSON without history": (AS_DATA, "nohistory.json", ":1:1", "history"),
    # tapes
    "tape first line": (AS_DATA, "tape.jsonl.gz", ":1:13", "not a tape"),
    "tape version": (AS_DATA, "tape-version.jsonl", ":1", "version"),
    "tape without a usable line": (AS_DATA, "tape-lines.jsonl.gz", ":2", "missing key", "2 malformed"),
    # Parquet (the `data` extra)
    "Parquet junk": (AS_DATA, "junk.parquet", "", "not a Parquet file"),
    "Parquet columns": (AS_DATA, "columns.parquet", "", "missing timestamp"),
    "Parquet rows all bad": (AS_DATA, "bad.parquet", ": row 1", "best_bid 'abc'", "2 malformed"),
    "Parquet 1/0 outcome": (AS_DATA, "flag.parquet", ": row 1", "column outcome", "UP/DOWN"),
    "Parquet row group": (AS_DATA, "groups.parquet", ": row 6 (row group 2)", "column outcome"),
    "Parquet inf and nan (no numpy warning)": (AS_DATA, "inf.parquet", ": row 1", "timestamp", "best_bid"),
    "gzip'd Parquet": (AS_DATA, "zipped.parquet.gz", "", "gzip'd Parquet"),
    "Parquet without rows": (AS_DATA, "empty.parquet", "", "without rows"),
    # the underlying
    "underlying missing": (AS_UNDERLYING, "nounder.csv", "", "no such file"),
    "underlying a folder": (AS_UNDERLYING, "emptydir", "", "is a directory"),
    "underlying columns": (AS_UNDERLYING, "under-cols.csv", ":1", "no time column"),
    "underlying all bad": (AS_UNDERLYING, "under-bad.csv", ":2", "'x'", "'y'", "no usable price"),
    "underlying latin-1": (AS_UNDERLYING, "under-latin.csv", ":2:13", "not UTF-8"),
    "underlying JSON": (AS_UNDERLYING, "under.json", ":1:2", "not valid JSON"),
    "underlying gzip cut short": (AS_UNDERLYING, "under-cut.csv.gz", "", "not a readable gzip file"),
    # metadata
    "metadata missing": (AS_METADATA, "nometa.json", "", "no such file"),
    "metadata syntax": (AS_METADATA, "meta-syntax.json", ":2:3", "not valid JSON"),
    "metadata without tokens": (AS_METADATA, "meta-empty.json", "", "no market"),
    "metadata a folder": (AS_METADATA, "emptydir", "", "directory"),
}
OTHERS: dict[str, Case] = {
    "JSON points all bad": case(
        "backtest",
        "@points.json",
        "--option",
        "token_outcome=UP",
        "--option",
        f"window_end={T0 + 300}",
        file="points.json",
        place=": point 1",
        reasons=("t 'x' is not a number",),
    ),
    "sidecar syntax": case(
        "backtest", "@side.json", file="side.meta.json", place=":1:2", reasons=("not valid JSON",)
    ),
    # options, settings, sweep grids, download folders
    "option JSON": case(
        "backtest", "@good.csv", "--option", "columns={bad", file="", reasons=("--option columns", "JSON")
    ),
    "bad tick": case(
        "backtest", "@good.csv", "--option", "tick=abc", file="good.csv", reasons=("tick='abc'",)
    ),
    "settings TOML": case(
        "backtest",
        "@good.csv",
        "--config",
        "@bad.toml",
        file="bad.toml",
        place=f":1:{len('[risk') + 1}",
        reasons=("not valid TOML", "Expected ']'"),
    ),
    "sweep without values": case(
        "backtest",
        "@good.csv",
        "--sweep",
        "risk.max_position_usd=,",
        file="",
        reasons=("at least one value",),
    ),
    "sweep key twice": case(
        "backtest",
        "@good.csv",
        "--sweep",
        "risk.max_position_usd=1",
        "--sweep",
        "risk.max_position_usd=2",
        file="",
        reasons=("swept twice",),
    ),
    "sweep of bad data": case(
        "backtest",
        "@header.csv",
        "--sweep",
        "risk.max_position_usd=1,2",
        file="header.csv",
        reasons=("header",),
    ),
    "download manifest": case(
        "backtest", "@dl", file="dl/download.json", place=":2:14", reasons=("manifest",)
    ),
    "download --out a file": case(
        "download", "--out", "@good.csv", "--market", "x", file="good.csv", reasons=("choose a new --out",)
    ),
    "download answer not JSON": case(
        "download",
        "--out",
        "@dl-new",
        "--market",
        "x",
        "--gamma",
        "SERVER",
        file="",
        reasons=("not JSON", "<html>"),
    ),
    "dask scheduler address": case(
        "backtest",
        "@good.csv",
        "--sweep",
        "risk.max_position_usd=1,2",
        "--executor",
        "dask",
        "--scheduler",
        "nowhere",
        file="",
        reasons=("--scheduler 'nowhere'", "expected tcp://HOST:PORT"),
    ),
    "compare outside a home": case(
        "compare", "1", "--home", "@emptydir", file="emptydir", reasons=("not a bot home",), after=" "
    ),
}
CASES: dict[str, Case] = {
    **{
        name: case(*(arg.format(f) for arg in how), file=f, place=p, reasons=tuple(r))
        for name, (how, f, p, *r) in FILE_CASES.items()
    },
    **OTHERS,
}
SPAWNED = {
    "missing file",
    "latin-1 CSV",
    "1/0 outcome per market",
    "option JSON",
    "underlying JSON",
    "tape first line",
    "Parquet inf and nan (no numpy warning)",
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-input")
    write_inputs(d)
    return d


class _Html(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>maintenance</html>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A local server that answers every request with a web page, not JSON."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=30)
    httpd.server_close()


def argv(c: Case, d: Path, name: str, server: str) -> list[str]:
    out = [str(d / arg[1:]) if arg.startswith("@") else server if arg == "SERVER" else arg for arg in c.argv]
    out = [a.replace("metadata=", f"metadata={d}/") if a.startswith("metadata=") else a for a in out]
    if c.argv[0] == "backtest":
        out += ["--out", str(d / "out" / name.replace(" ", "-").replace("/", "-")), "--quiet"]
    if c.argv[0] == "download":  # never the real servers
        for option in ("--gamma", "--clob", "--binance"):
            if option not in out:
                out += [option, server]
    return out


def in_process(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stderr


def spawned(args: list[str], cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    return done.returncode, done.stderr


RUNNERS: dict[bool, Callable[[list[str], Path], tuple[int, str]]] = {
    True: spawned,
    False: lambda args, _cwd: in_process(args),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_naming_file_place_and_reason(inputs: Path, server: str, name: str) -> None:
    c = CASES[name]
    if "parquet" in " ".join(c.argv) and not (inputs / "empty.parquet").exists():
        pytest.skip("the `data` extra (pyarrow) is not installed")
    if "dask" in c.argv and importlib.util.find_spec("distributed") is None:
        pytest.skip("the `dask` extra is not installed")
    args = argv(c, inputs, name, server)
    code, stderr = RUNNERS[name in SPAWNED](args, inputs)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(f"bot {c.argv[0]}: "), line
    if c.file:
        assert f"{inputs / c.file}{c.place}{c.after}" in line, line
    for reason in c.reasons:
        assert reason in line, line
    if c.argv[0] == "backtest":  # nothing was written as if it were a result
        assert not (Path(args[args.index("--out") + 1]) / "summary.json").exists()


def test_after_bad_data_the_same_out_folder_takes_the_fixed_data(inputs: Path) -> None:
    """Nothing is written when the data cannot be used: no half-made results to trip over."""
    out = inputs / "again"
    code, stderr = in_process(["backtest", str(inputs / "allbad.csv"), "--out", str(out), "--quiet"])
    assert code == 2, stderr
    assert not out.exists()
    code, stderr = in_process(["backtest", str(inputs / "good.csv"), "--out", str(out), "--quiet"])
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["malformed_total"] == 0


def test_a_file_mostly_fine_is_used_and_its_malformed_rows_are_on_the_page(inputs: Path) -> None:
    """The documented policy: malformed rows counted, the first reasons with their lines shown."""
    lines = rows(40)
    lines[4] = f"{T0 + 4},M1,abc,1.5,{T0 + 300},UP"  # line 6: two reasons
    lines[6] = f"{T0 + 6},M1,0.6,0.5,{T0 + 300},UP"  # line 8
    path = inputs / "some-bad.csv"
    path.write_text(csv_text(lines))
    out = inputs / "some-bad"
    result = CliRunner().invoke(app, ["backtest", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert "2 malformed rows" in result.stdout
    assert (
        "data: malformed line 6: best_bid 'abc' is not a number; best_ask 1.5 is outside [0, 1]"
        in result.stdout
    )
    assert "data: malformed line 8: crossed book" in result.stdout
    data = json.loads((out / "summary.json").read_text())["data"]
    assert [row for row, _ in data["malformed_first"]] == [6, 8]


def test_a_tape_cut_short_is_used_up_to_its_last_line_and_says_so(inputs: Path) -> None:
    market = Market(
        market_id="m1",
        instrument="BTC",
        name="m1",
        window_start_ms=T0 * 1000,
        window_end_ms=(T0 + 3600) * 1000,
        strike=None,
        tick=10_000,
        min_size=5 * ONE,
        fee_rate_ppm=0,
        fee_exponent=1,
    )
    path = inputs / "cut.jsonl.gz"
    with TapeWriter(path, source="test") as tape:
        tape.write(WindowOpened(T0 * 1000, market))
        for i in range(3000):
            bid = 400_000 + (i % 50) * 10_000
            tape.write(BookTick((T0 + i) * 1000, "m1", bid, 100 * ONE, bid + 10_000, 100 * ONE))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    out = inputs / "cut"
    result = CliRunner().invoke(app, ["backtest", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert "data: the tape ends early (TRUNCATED)" in result.stdout
    assert json.loads((out / "summary.json").read_text())["data"]["truncated"] is True
