"""bot.statefiles.write_json is atomic for a concurrent reader; the FileWriter thread writes the
newest bytes handed to it and reports a failing write without stopping; mask_wallet hides
the middle."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.state import mask_wallet
from bot.statefiles import FileWriter, write_json


def test_write_json_writes_valid_json_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    data = {"schema_version": 1, "balance": {"usdc": 100.25}, "open_orders": [], "name": "ünïcode", "x": None}
    write_json(path, data)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == data
    assert text.endswith("\n")
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_write_json_replaces_the_previous_content(tmp_path: Path) -> None:
    path = tmp_path / "trading_state.json"
    write_json(path, {"n": list(range(1_000))})  # a long file first
    write_json(path, {"n": 1})  # then a short one: nothing of the old one may remain
    assert json.loads(path.read_text()) == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trading_state.json"]


def test_write_json_refuses_unserialisable_data_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write_json(path, {"ok": True})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs folder when there is one: rename is just as atomic there, and the 4,000 fsyncs of
    2,000 rewrites cost milliseconds instead of seconds. Falls back to tmp_path."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="test_core_state_writer-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_concurrent_reader_never_sees_a_torn_or_missing_file(fast_dir: Path) -> None:
    path = fast_dir / "trading_state.json"
    write_json(path, {"seq": 0, "pad": ""})
    done = threading.Event()
    reading = threading.Event()
    problems: list[str] = []
    seen: list[int] = []

    def reader() -> None:
        last = 0
        while not done.is_set():
            try:
                data = json.loads(path.read_bytes())
            except FileNotFoundError:
                problems.append("missing file")
                continue
            except ValueError as exc:
                problems.append(f"parse error: {exc}")
                continue
            if data["seq"] < last:
                problems.append(f"went back from {last} to {data['seq']}")
            if data["pad"] != "x" * (data["seq"] % 97) * 10:
                problems.append(f"content of write {data['seq']} is mixed up")
            last = data["seq"]
            seen.append(last)
            reading.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert reading.wait(timeout=10)  # the reader is running before the first rewrite
        for seq in range(2_000):
            # the size varies, so a torn or truncated file would show
            write_json(path, {"seq": seq, "pad": "x" * (seq % 97) * 10})
    finally:
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert problems == []
    assert len(seen) > 10  # the reader really ran alongside the writer
    assert len(set(seen)) > 2  # and saw several versions
    assert json.loads(path.read_text())["seq"] == 1_999
    assert [p.name for p in fast_dir.iterdir()] == ["trading_state.json"]


@pytest.mark.parametrize(
    ("wallet", "masked"),
    [
        ("0x1234567890abcdef1234567890abcdef12345678", "0x1234...5678"),
        ("0xABCDEF0123456789", "0xABCD...6789"),
        ("abcdefghijk", "abcdef...hijk"),  # 11 characters: just long enough to mask
        ("abcdefghij", "abcdefghij"),  # 10: first 6 + last 4 is the whole of it
        ("PAPER", "PAPER"),
        ("", ""),
    ],
)
def test_mask_wallet_keeps_the_first_6_and_last_4(wallet: str, masked: str) -> None:
    assert mask_wallet(wallet) == masked


def test_mask_wallet_never_shows_the_middle() -> None:
    wallet = "0x" + "0123456789abcdef" * 2 + "deadbeef"
    masked = mask_wallet(wallet)
    assert masked.startswith(wallet[:6])
    assert masked.endswith(wallet[-4:])
    assert wallet[6:-4] not in masked
    assert len(masked) == 6 + 3 + 4


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
    assert "cannot write" in writer.last_error
    assert "no-such-folder" in writer.last_error
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


def test_a_write_that_hangs_shows_in_busy_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = threading.Event()

    def hanging_disk(path: Path, payload: bytes) -> None:
        started.set()
        release.wait(10)

    monkeypatch.setattr("bot.statefiles.replace_file", hanging_disk)
    writer = FileWriter()
    assert writer.busy_for() == 0.0
    writer.put(tmp_path / "status.json", {"a": 1})
    assert started.wait(5)
    deadline = time.monotonic() + 5
    while writer.busy_for() < 0.05 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.busy_for() >= 0.05
    release.set()
    writer.flush()
    assert writer.busy_for() == 0.0
    writer.close()
