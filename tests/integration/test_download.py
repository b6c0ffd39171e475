"""`bot download` against local Gamma, CLOB-history and Binance stand-ins, then `bot backtest`
on the folder it wrote (the CLI is what is tested)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.gamma_server import GammaServer
from bot.testing.history_server import HistoryServer

T = 1_790_000_100 - 1_790_000_100 % 300
WINDOWS = 6


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def servers() -> Iterator[tuple[GammaServer, HistoryServer]]:
    with GammaServer(series=["btc-updown-5m"], history_s=10**7) as gamma, HistoryServer() as history:
        gamma.freeze(T + 7200)
        for k in range(WINDOWS):
            start = T + 300 * k
            slug = f"btc-updown-5m-{start}"
            up, down = gamma.token_ids(slug)
            history.add_window(up, down, start, start + 300)
            gamma.set_winner(slug, history.winner(start, start + 300))
        yield gamma, history


def fetch(
    gamma: GammaServer, history: HistoryServer, out: Path, *extra: str | Path
) -> subprocess.CompletedProcess[str]:
    return run(
        "download",
        "--out",
        out,
        "--gamma",
        gamma.url,
        "--clob",
        history.url,
        "--binance",
        history.url,
        *extra,
    )


def test_a_series_and_range_downloads_into_a_folder_backtest_reads(
    tmp_path: Path, servers: tuple[GammaServer, HistoryServer]
) -> None:
    gamma, history = servers
    out = tmp_path / "btc"
    result = fetch(
        gamma, history, out, "--series", "btc-updown-5m", "--start", str(T), "--end", str(T + 1800)
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "download.json").read_text())
    assert manifest["markets"] == WINDOWS
    assert manifest["tokens_without_prices"] == []
    assert manifest["price_points"] == 2 * WINDOWS * 5  # one a minute, both tokens
    assert manifest["candles"] > 30
    assert manifest["symbol"] == "BTCUSDT"
    assert "seconds" not in json.dumps(manifest)
    # the same request again gives the same bytes
    again = tmp_path / "again"
    assert (
        fetch(
            gamma, history, again, "--series", "btc-updown-5m", "--start", str(T), "--end", str(T + 1800)
        ).returncode
        == 0
    )
    for name in ("books.csv", "gamma.json", "underlying.csv", "download.json"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    # bot backtest reads the folder as it is: markets paired by the Gamma metadata, priced
    # by the underlying, results by Gamma's winners
    bt = run("backtest", out, "--strategy", "edge", "--out", tmp_path / "bt", "--quiet")
    assert bt.returncode == 0, bt.stderr
    summary = json.loads((tmp_path / "bt" / "summary.json").read_text())
    assert summary["data"]["markets"] == WINDOWS
    assert summary["data"]["underlying"]["ticks"]["priced"] > 0
    assert summary["idle_strategies"] == []
    assert "metadata feeSchedule" in json.dumps(summary["data"]["fees"])
    assert summary["unsettled"]["positions"] == 0  # every window resolved from gamma.json


def test_an_unknown_series_is_one_line(tmp_path: Path, servers: tuple[GammaServer, HistoryServer]) -> None:
    gamma, history = servers
    result = fetch(
        gamma,
        history,
        tmp_path / "o",
        "--series",
        "btc-sideways-7m",
        "--start",
        str(T),
        "--end",
        str(T + 600),
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown series" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_dead_server_is_one_line(tmp_path: Path, servers: tuple[GammaServer, HistoryServer]) -> None:
    gamma, history = servers
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = run(
        "download",
        "--out",
        tmp_path / "o",
        "--gamma",
        dead,
        "--clob",
        history.url,
        "--binance",
        history.url,
        "--series",
        "btc-updown-5m",
        "--start",
        str(T),
        "--end",
        str(T + 600),
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"cannot reach {dead}" in result.stderr
    history.fail_next("/prices-history", status=503)
    failed = fetch(
        gamma, history, tmp_path / "o2", "--series", "btc-updown-5m", "--start", str(T), "--end", str(T + 600)
    )
    assert failed.returncode != 0
    assert "HTTP 503" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (T + 600, T, "an empty range"),
        (T + 86_400 * 400, T + 86_400 * 400 + 600, "no market of series btc-updown-5m"),
    ],
)
def test_an_empty_range_is_one_line(
    tmp_path: Path, servers: tuple[GammaServer, HistoryServer], start: int, end: int, words: str
) -> None:
    gamma, history = servers
    result = fetch(
        gamma, history, tmp_path / "o", "--series", "btc-updown-5m", "--start", str(start), "--end", str(end)
    )
    assert result.returncode != 0
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
