"""bot.safefile, bot.preflight and the config bounds: reading the home never blocks, odd shapes and
huge numbers are one-line errors naming the path or the key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot import preflight
from bot.config import Config, ConfigError, _flatten, load_config
from bot.controls import Watcher, excerpt, scan
from bot.safefile import FileRefused, printable, read_small, replace_small


def in_thread(fn: Any, seconds: float = 5.0) -> Any:
    """fn() in a thread, failing instead of hanging the suite if it blocks."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return out[0]


def test_read_small_refuses_what_is_not_a_regular_file_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    cases = {
        tmp_path / "fifo": "is a FIFO (named pipe), not a regular file",
        tmp_path / "dir": "is a directory, not a regular file",
        Path("/dev/zero"): "is a character device, not a regular file",
        tmp_path / "dangling": "dangling symbolic link (its target does not exist)",
        tmp_path / "missing": "no such file",
    }
    for path, reason in cases.items():
        result = in_thread(lambda p=path: read_small(p, 100))
        assert isinstance(result, FileRefused), (path, result)
        assert str(result) == reason, (path, result)


def test_a_fifo_swapped_in_after_the_name_was_checked_is_refused_by_fstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race a plain stat-then-open loses: the name is a file when looked at and a FIFO
    when opened. Here the look is made to see a regular file; only the O_NONBLOCK open and
    the fstat of the opened descriptor stand between the reader and a blocked thread."""
    os.mkfifo(tmp_path / "ADJUST_RISK")
    (tmp_path / "regular").write_text("3")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, **kw: real_stat(tmp_path / "regular"))
    result = in_thread(lambda: read_small(tmp_path / "ADJUST_RISK", 100))
    assert isinstance(result, FileRefused)
    assert str(result) == "is a FIFO (named pipe), not a regular file"


def test_read_small_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 101)
    assert read_small(tmp_path / "f", 101) == b"x" * 101
    with pytest.raises(FileRefused, match="larger than 100 bytes"):
        read_small(tmp_path / "f", 100)


def test_read_small_without_follow_refuses_a_link(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("1")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert read_small(tmp_path / "link", 10) == b"1"
    with pytest.raises(FileRefused, match="symbolic link"):
        read_small(tmp_path / "link", 10, follow=False)


def test_replace_small_replaces_a_fifo_or_a_link_without_opening_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "PAUSE")
    in_thread(lambda: replace_small(tmp_path / "PAUSE", b""))
    assert (tmp_path / "PAUSE").is_file()
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "ADJUST_RISK").symlink_to(target)
    replace_small(tmp_path / "ADJUST_RISK", b"3")
    assert target.read_text() == "keep"
    assert (tmp_path / "ADJUST_RISK").read_text() == "3"
    assert not (tmp_path / "ADJUST_RISK").is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_tape_writer_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    from bot.feeds.tape import DataError, TapeWriter

    os.mkfifo(tmp_path / "session-2.jsonl.gz")
    result = in_thread(lambda: TapeWriter(tmp_path / "session-2.jsonl.gz"))
    assert isinstance(result, DataError)
    assert "is a FIFO (named pipe)" in str(result)


def test_printable_escapes_bytes_that_are_not_utf8_and_control_characters() -> None:
    name = os.fsdecode(b"PAUSE\xff\n\x1b")
    assert printable(name) == "PAUSE\\xff\\n\\x1b"
    assert printable("\ud800") == "\\xed\\xa0\\x80"  # a lone surrogate from elsewhere
    assert printable("x" * 500, 20) == "x" * 17 + "..."
    assert excerpt(b"\x00abc\xff" * 1000).startswith("\\x00abc\ufffd")
    assert len(excerpt(b"y" * 10_000)) == 200


def test_scan_of_controls_that_is_a_file_or_missing(tmp_path: Path) -> None:
    folder = tmp_path / "controls"
    folder.write_text("")
    found = scan(folder)
    assert found.problem == "controls is a regular file, not a folder: no control can be seen"
    folder.unlink()
    assert scan(folder).recreated
    assert folder.is_dir()


def test_scan_reads_adjust_risk_through_a_link_only_inside_controls(tmp_path: Path) -> None:
    folder = tmp_path / "controls"
    folder.mkdir()
    (tmp_path / "outside").write_text("3")
    (folder / "inside").write_text("4")
    (folder / "ADJUST_RISK").symlink_to(tmp_path / "outside")
    (folder / "ADJUST_RISK.txt").symlink_to(folder / "inside")
    found = scan(folder)
    assert found.content == {"ADJUST_RISK.txt": b"4"}
    assert [(r.file, r.reason) for r in found.rejected] == [
        ("ADJUST_RISK", "symbolic link to a file outside controls/: not read"),
        ("inside", found.rejected[1].reason),
    ]


def test_the_watcher_follows_a_replaced_folder(tmp_path: Path) -> None:
    folder = tmp_path / "controls"
    folder.mkdir()
    woken = threading.Event()
    watcher = Watcher(folder, woken.set, poll_s=0.05)
    watcher.start()
    try:
        shutil.rmtree(folder)
        folder.mkdir()
        deadline = time.monotonic() + 10
        while watcher.rewatched == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.rewatched >= 1
        woken.clear()
        (folder / "PAUSE").touch()
        assert woken.wait(10)
    finally:
        watcher.stop()


# -- the home ---------------------------------------------------------------------------


def test_home_prepare_creates_folders_and_names_a_misplaced_one(tmp_path: Path) -> None:
    preflight.prepare(tmp_path / "h")
    assert all((tmp_path / "h" / n).is_dir() for n in preflight.FOLDERS)
    (tmp_path / "h" / "logs" / "tapes").write_text("")
    with pytest.raises(
        preflight.HomeError, match=r"logs/tapes: is a regular file, but logs/tapes/ must be a folder"
    ):
        preflight.prepare(tmp_path / "h")


def test_remove_stale_temp_keeps_a_running_writers_file(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / f".status.json.{int(dead.stdout)}.tmp").write_text("")
    (tmp_path / f".status.json.{os.getppid()}.tmp").write_text("")  # a running process
    (tmp_path / ".status.json.99999999999.tmp").write_text("")  # no such pid can exist
    (tmp_path / f".dir.{int(dead.stdout)}.tmp").mkdir()  # not a file: left alone
    (tmp_path / "status.json").write_text("")
    removed = preflight.remove_stale_temp(tmp_path)
    assert removed == sorted([f".status.json.{int(dead.stdout)}.tmp", ".status.json.99999999999.tmp"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f".status.json.{os.getppid()}.tmp", f".dir.{int(dead.stdout)}.tmp", "status.json"]
    )


# -- every numeric setting refuses huge numbers -----------------------------------------

DEFAULTS = _flatten(Config().to_dict())
NUMERIC = sorted(
    {k for k, v in DEFAULTS.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    | {"caps.max_position_usd", "caps.max_session_loss"}
)


@pytest.mark.parametrize("key", NUMERIC)
@pytest.mark.parametrize("value", [1e308, 2**63, -(2**63), 10**30])
def test_every_numeric_setting_refuses_a_huge_number_naming_the_key(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {key: value})
    assert str(info.value).startswith(f"{key}:"), str(info.value)


def test_the_limits_leave_every_default_and_sane_value_alone(tmp_path: Path) -> None:
    load_config(None, {"risk.max_position_usd": 1e6, "market.window_s": 86_400, "speed": 1000})


def test_an_override_never_hides_a_bad_value_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text("speed = 0\n")
    with pytest.raises(ConfigError, match="speed: must be greater than 0"):
        load_config(tmp_path / "bot.toml", {"speed": 5.0})


@pytest.mark.parametrize("key", ["heartbeat_s", "state_refresh_s", "polymarket.poll_interval_s"])
def test_a_period_that_would_spin_the_loop_is_refused(key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}: 1e-300 s is too short"):
        load_config(None, {key: 1e-300})
