"""state.FileWriter: the engine's state files are written off its thread, newest bytes win,
and a failing write is reported without stopping the bot."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.state import FileWriter


def test_the_newest_content_is_on_disk_after_flush(tmp_path: Path) -> None:
    writer = FileWriter()
    target = tmp_path / "trading_state.json"
    for i in range(200):
        writer.put(target, {"n": i})
    writer.flush()
    assert json.loads(target.read_text()) == {"n": 199}
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    writer.close()


def test_a_failing_write_is_logged_and_the_others_still_happen(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = FileWriter()
    missing = tmp_path / "no-such-folder" / "status.json"
    good = tmp_path / "status.json"
    with caplog.at_level(logging.ERROR, logger="bot"):
        writer.put(missing, {"a": 1})
        writer.put(good, {"b": 2})
        writer.flush()
    assert json.loads(good.read_text()) == {"b": 2}
    assert writer.failures == 1
    assert "cannot write" in writer.last_error and "no-such-folder" in writer.last_error
    assert any("cannot write" in r.getMessage() for r in caplog.records)
    writer.close()


def test_close_writes_what_was_handed_over_and_refuses_more(tmp_path: Path) -> None:
    writer = FileWriter()
    target = tmp_path / "trades_today.json"
    writer.put(target, {"final": True})
    writer.close()
    assert json.loads(target.read_text()) == {"final": True}
    with pytest.raises(RuntimeError, match="closed"):
        writer.put(target, {})
