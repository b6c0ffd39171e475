"""`bot markets` as a real subprocess against the local Gamma server (real clock).

Windows are named by their absolute slug, taken when the test sets up; the command lists the
last ended window and the next few, so a window boundary passing mid-test moves nothing out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.testing.gamma_server import GammaServer


@pytest.fixture
def gamma() -> Iterator[GammaServer]:
    with GammaServer(series=["btc-updown-5m", "eth-updown-15m"], resolve_after_s=60) as server:
        yield server


def bot(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def listing(home: Path, gamma: GammaServer, *args: str) -> tuple[int, dict[str, Any], str]:
    out = bot(home, "markets", "--host", gamma.url, "--json", "--windows", "3", *args)
    return out.returncode, json.loads(out.stdout), out.stderr


def test_text_listing_shows_times_tick_fees_and_why_a_window_is_skipped(
    tmp_path: Path, gamma: GammaServer
) -> None:
    malformed, no_tokens = gamma.window("btc-updown-5m", 1), gamma.window("btc-updown-5m", 2)
    rules = gamma.window("eth-updown-15m", 1)
    gamma.fault(malformed, "malformed")
    gamma.fault(no_tokens, "no_tokens")
    gamma.fault(rules, "twap30")
    out = bot(
        tmp_path,
        "markets",
        "--host",
        gamma.url,
        "--series",
        "btc-updown-5m",
        "--series",
        "eth-updown-15m",
        "--windows",
        "3",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"Gamma {gamma.url}")
    open_lines = [line for line in lines if " OPEN " in line]
    assert len(open_lines) >= 1
    assert all("tick 0.01" in line and "7% taker" in line for line in open_lines)
    text = out.stdout
    assert "SKIPPED: malformed Gamma row: cannot parse market.clobTokenIds" in text
    assert "SKIPPED: no token ids on Gamma" in text
    assert "SKIPPED: rules differ: TWAP window is 30 s, the bot knows 60 s" in text
    assert "Traceback" not in out.stderr


def test_json_listing_gives_what_an_agent_needs(tmp_path: Path, gamma: GammaServer) -> None:
    current = gamma.window("btc-updown-5m")
    reversed_ = gamma.window("btc-updown-5m", 1)
    gamma.fault(reversed_, "reversed")
    code, doc, _ = listing(tmp_path, gamma, "--series", "btc-updown-5m")
    assert code == 0
    assert doc["host"] == gamma.url
    assert doc["errors"] == []
    rows = {r["key"]: r for r in doc["markets"]}
    for slug in (current, reversed_):
        row = rows[slug]
        assert row["status"] in ("OPEN", "NEXT", "ENDED", "RESOLVED")
        assert (row["up_token"], row["down_token"]) == gamma.token_ids(slug)
        assert row["condition_id"] == gamma.condition_id(slug)
        assert (row["tick"], row["min_size"], row["fee_rate"], row["neg_risk"]) == (0.01, 5.0, 0.07, False)
        assert row["family"] == "chainlink-twap-60"
        assert row["twap_lookback_s"] == 60
        assert row["start"].endswith("Z")
        assert row["end"] > row["start"]
    assert sum(r["status"] == "OPEN" for r in doc["markets"]) == 1


def test_a_window_gamma_still_shows_open_after_its_end_is_not_called_resolved(
    tmp_path: Path, gamma: GammaServer
) -> None:
    gamma.resolve_after_s = 0  # without the fault the last window would show RESOLVED
    previous = gamma.window("btc-updown-5m", -1)
    gamma.fault(previous, "stale")
    code, doc, _ = listing(tmp_path, gamma, "--series", "btc-updown-5m")
    rows = {r["key"]: r for r in doc["markets"]}
    ended = [r for r in doc["markets"] if r["status"] in ("ENDED", "RESOLVED")]
    assert code == 0
    assert len(ended) == 1
    if ended[0]["key"] == previous:  # a boundary may have passed: then the stale one left the list
        assert rows[previous]["status"] == "ENDED"
        assert "closed=false" in rows[previous]["reason"]
    else:
        assert ended[0]["status"] == "RESOLVED"
        assert ended[0]["winner"] in ("UP", "DOWN")


def test_gamma_answering_5xx_is_one_line_and_exit_1(tmp_path: Path, gamma: GammaServer) -> None:
    gamma.fail_next("/events", status=503)
    out = bot(tmp_path, "markets", "--host", gamma.url, "--series", "btc-updown-5m")
    assert out.returncode == 1
    assert "error: Gamma /events: HTTP 503 injected HTTP 503" in out.stdout
    assert "UNCHECKED" in out.stdout
    assert "Traceback" not in out.stderr


def test_a_slow_gamma_times_out_with_a_clear_message(tmp_path: Path, gamma: GammaServer) -> None:
    gamma.slow(3.0, "/events")
    out = bot(
        tmp_path, "markets", "--host", gamma.url, "--series", "btc-updown-5m", "--timeout", "0.5", "--json"
    )
    assert out.returncode == 1
    assert json.loads(out.stdout)["errors"] == ["Gamma /events: no answer within 0.5 s"]
    assert out.stderr.strip() == "bot markets: Gamma /events: no answer within 0.5 s"


def test_gamma_down_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = bot(
        tmp_path, "markets", "--host", "http://127.0.0.1:9", "--series", "btc-updown-5m", "--timeout", "2"
    )
    assert out.returncode == 1
    assert "error: Gamma /events: ConnectError" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--series", "btc-updown-7m"],
            "bot markets: unknown series 'btc-updown-7m': unknown timeframe '7m'",
        ),
        (["--series", "btc-updown-1h"], "bot markets: series 'btc-updown-1h' is not supported"),
        (["--market", "0xnope"], "bot markets: market '0xnope': a condition id is 0x and 64 hex digits"),
        ([], "bot markets: nothing to list"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, gamma: GammaServer, args: list[str], message: str
) -> None:
    out = bot(tmp_path, "markets", "--host", gamma.url, *args)
    assert out.returncode == 2
    assert out.stderr.startswith(message)
    assert len(out.stderr.splitlines()) == 1
    assert gamma.requests == []


def test_series_markets_and_host_come_from_bot_toml(tmp_path: Path, gamma: GammaServer) -> None:
    slug = gamma.window("eth-updown-15m", 1)
    (tmp_path / "bot.toml").write_text(
        f'[polymarket]\nseries = ["btc-updown-5m"]\nmarkets = ["{slug}"]\ngamma_host = "{gamma.url}"\n'
    )
    out = bot(tmp_path, "markets", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["host"] == gamma.url
    assert {r["series"] for r in doc["markets"]} == {"btc-updown-5m", "eth-updown-15m"}
    assert [r["key"] for r in doc["markets"] if r["explicit"]] == [slug]


def test_search_finds_markets_by_text(tmp_path: Path, gamma: GammaServer) -> None:
    code, doc, _ = listing(tmp_path, gamma, "--search", "ethereum up or down")
    assert code == 0
    assert doc["markets"]
    assert all(r["series"] == "eth-updown-15m" and r["explicit"] for r in doc["markets"])


def test_status_does_not_load_discovery(tmp_path: Path) -> None:
    probe = (
        "import sys; sys.argv = ['bot', 'status', '--home', sys.argv[1]];"
        " from bot.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('bot.markets', 'httpx'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_the_gamma_host_of_bot_toml_serves_series_named_on_the_command_line(
    tmp_path: Path, gamma: GammaServer
) -> None:
    (tmp_path / "bot.toml").write_text(f'[polymarket]\ngamma_host = "{gamma.url}"\n')
    out = bot(tmp_path, "markets", "--series", "eth-updown-15m", "--json")
    assert out.returncode == 0, out.stderr
    assert {r["series"] for r in json.loads(out.stdout)["markets"]} == {"eth-updown-15m"}


def test_a_broken_bot_toml_is_one_line_and_exit_2(tmp_path: Path, gamma: GammaServer) -> None:
    (tmp_path / "bot.toml").write_text("[polymarket]\nseries = 'btc-updown-5m'\n")
    out = bot(tmp_path, "markets")
    assert out.returncode == 2
    assert "polymarket.series must be a list of strings" in out.stderr
    assert len(out.stderr.splitlines()) == 1
