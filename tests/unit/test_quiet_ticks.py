"""A backtest's quiet book ticks take a short way through the engine (`Engine._replay_batch`:
marks, then the strategies, without `step` and `_decide`). It must change nothing: the same
data, run with the short way on and off, writes the same files and the same journal rows,
trades, refusals, exits and resolutions included."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from bot import backtest
from bot.config import load_config
from bot.engine import Engine
from bot.feeds.simulated import SimulatedMarket
from bot.feeds.tape import TapeWriter
from tests.research_data import write_research_data

T0_MS = 1_800_000_000_000  # on a 5-minute boundary


def _tape(path: Path, events: int) -> Path:
    """The simulated market's events (3 instruments, 5-minute windows) on a tape."""
    sim = SimulatedMarket(load_config(None, {"market.seed": 7}).market, T0_MS)
    count = 0
    with TapeWriter(path, source="test_quiet_ticks") as w:
        while count < events:
            for event in sim.next_batch():
                w.write(event)
                count += 1
    return path


def _outputs(folder: Path) -> dict[str, str]:
    """sha256 of every file (not the wall-clock timing) and of every journal table's rows."""
    found = {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.name != "timing.json" and not f.name.startswith("bot.db")
    }
    con = sqlite3.connect(folder / "state" / "bot.db")
    for (name,) in con.execute("select name from sqlite_master where type='table' order by name"):
        rows = con.execute(f'select * from "{name}" order by rowid').fetchall()
        found[f"bot.db:{name}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    con.close()
    return found


def _both_ways(
    data: Path, strategies: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """The outputs with the short way on and off, and how often each way was taken."""
    calls = {"step": 0, "evaluate": 0}
    step, evaluate = Engine.step, Engine._evaluate

    def counted_step(self: Engine, event: object) -> None:
        calls["step"] += 1
        step(self, event)  # type: ignore[arg-type]

    def counted_evaluate(self: Engine, tick: object) -> None:
        calls["evaluate"] += 1
        evaluate(self, tick)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "step", counted_step)
    monkeypatch.setattr(Engine, "_evaluate", counted_evaluate)
    config = load_config(None, {"strategies.enabled": strategies})
    off_summary = None
    monkeypatch.setattr(Engine, "quiet_ticks", False)
    off_summary = backtest.run_backtest(data, config, tmp_path / "off").summary
    off_calls = dict(calls)
    monkeypatch.setattr(Engine, "quiet_ticks", True)
    backtest.run_backtest(data, config, tmp_path / "on")
    on_calls = {k: calls[k] - off_calls[k] for k in calls}
    assert off_summary["trades"] > 0  # the data trades: the general path is exercised too
    assert on_calls["evaluate"] == off_calls["evaluate"]  # the strategies saw the same ticks
    # the short way was taken for most ticks, and `step` still for the rest
    assert 0 < on_calls["step"] < off_calls["step"] / 2
    return _outputs(tmp_path / "off"), _outputs(tmp_path / "on"), on_calls


@pytest.mark.parametrize("strategies", [["canary", "edge"], ["edge"]])
def test_the_short_way_for_quiet_ticks_changes_nothing_on_a_tape(
    strategies: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tape = _tape(tmp_path / "tape.jsonl.gz", 60_000)
    off, on, _ = _both_ways(tape, strategies, tmp_path, monkeypatch)
    assert on == off


def test_the_short_way_for_quiet_ticks_changes_nothing_on_a_csv_with_its_underlying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    books, _ = write_research_data(tmp_path, windows=6)
    off, on, _ = _both_ways(books, ["edge", "canary"], tmp_path, monkeypatch)
    assert on == off


def test_a_word_in_the_inbox_stops_a_backtest_before_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backtest goes batch after batch without the run loop (`Engine._replay`), but a word
    in the inbox still ends it at once: here a stop put there while the 100th batch is handled."""
    tape = _tape(tmp_path / "tape.jsonl.gz", 6_000)
    replay_batch = Engine._replay_batch
    seen: list[int] = []

    def stop_at_100(self: Engine, batch: list, paper: object) -> None:
        seen.append(batch[0].ts_ms)
        replay_batch(self, batch, paper)  # type: ignore[arg-type]
        if len(seen) == 100:
            self.inbox.request_stop()

    monkeypatch.setattr(Engine, "_replay_batch", stop_at_100)
    result = backtest.run_backtest(tape, load_config(None, {}), tmp_path / "out")
    assert len(seen) == 100  # no batch after the word
    assert result.events < 6_000
    stopped = sqlite3.connect(tmp_path / "out" / "state" / "bot.db").execute(
        "select exit_reason from sessions"
    )
    assert stopped.fetchone()[0] == "stop requested (Ctrl-C or SIGTERM)"
