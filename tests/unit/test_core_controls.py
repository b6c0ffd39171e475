"""bot.controls: what `ls controls/` means, read without ever blocking, and the cheap quick_check."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from bot.controls import (
    ALIASES,
    KNOWN_NAMES,
    MAX_CONTENT,
    Control,
    Scan,
    control_for,
    files_for,
    quick_check,
    remove,
    scan,
)


def scan_with_deadline(folder: Path, seconds: float = 5.0) -> Scan:
    """scan() in a thread, failing (instead of hanging the suite) if it blocks."""
    result: list[Scan] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(scan(folder))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "scan() blocked"
    if errors:
        raise errors[0]
    return result[0]


def rejected(found: Scan) -> dict[str, str]:
    return {r.file: r.reason for r in found.rejected}


@pytest.mark.parametrize(
    ("name", "control"),
    [
        ("PAUSE", Control.PAUSE),
        ("PAUSE_TRADING", Control.PAUSE),
        ("PAUSE.txt", Control.PAUSE),
        ("PAUSE_TRADING.txt", Control.PAUSE),
        ("FLATTEN", Control.FLATTEN),
        ("FLATTEN_ALL", Control.FLATTEN),
        ("FLATTEN_ALL.txt", Control.FLATTEN),
        ("EMERGENCY_STOP", Control.EMERGENCY_STOP),
        ("EMERGENCY_STOP.txt", Control.EMERGENCY_STOP),
        ("RESET", Control.RESET),
    ],
)
def test_scan_recognises_every_spelling(tmp_path: Path, name: str, control: Control) -> None:
    (tmp_path / name).touch()
    found = scan(tmp_path)
    assert found.present == {control: [name]}
    assert found.has(control)
    assert found.rejected == []
    assert control_for(name) is control


def test_scan_reports_several_controls_and_spellings_at_once(tmp_path: Path) -> None:
    for name in ("PAUSE", "PAUSE.txt", "FLATTEN_ALL.txt", "EMERGENCY_STOP"):
        (tmp_path / name).touch()
    found = scan(tmp_path)
    assert found.present == {
        Control.PAUSE: ["PAUSE", "PAUSE.txt"],
        Control.FLATTEN: ["FLATTEN_ALL.txt"],
        Control.EMERGENCY_STOP: ["EMERGENCY_STOP"],
    }
    assert found.rejected == []


@pytest.mark.parametrize("name", ["README.md", ".gitignore", ".gitkeep", ".PAUSE", ".hidden", "FOO.rejected"])
def test_scan_ignores_documentation_hidden_and_rejected_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("anything")
    found = scan(tmp_path)
    assert found.present == {}
    assert found.rejected == []
    assert found.content == {}


def test_a_renamed_rejected_control_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "PAUSE.rejected").touch()
    assert scan(tmp_path) == Scan()


@pytest.mark.parametrize("name", ["pause", "PAUSED", "STOP", "PAUSE.txt.txt", "PAUSE.md", "notes.txt"])
def test_an_unknown_file_is_rejected_with_the_known_list(tmp_path: Path, name: str) -> None:
    (tmp_path / name).touch()
    found = scan(tmp_path)
    assert found.present == {}
    [rej] = found.rejected
    assert rej.file == name
    assert rej.reason == f"unknown control file; known: {KNOWN_NAMES}"
    for known in (
        "PAUSE",
        "FLATTEN",
        "EMERGENCY_STOP",
        "ADJUST_RISK",
        "RESET",
        "PAUSE_TRADING",
        "FLATTEN_ALL",
    ):
        assert known in rej.reason


def test_a_rejection_signature_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "BOGUS"
    path.write_text("a")
    first = scan(tmp_path).rejected[0].signature
    assert scan(tmp_path).rejected[0].signature == first  # the same version: reported once
    path.write_text("longer")
    assert scan(tmp_path).rejected[0].signature != first


def test_a_directory_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "PAUSE").mkdir()
    found = scan_with_deadline(tmp_path)
    assert found.present == {}
    assert rejected(found) == {"PAUSE": "is a directory, not a file"}


def test_a_dangling_symlink_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "FLATTEN").symlink_to(tmp_path / "does-not-exist")
    found = scan_with_deadline(tmp_path)
    assert found.present == {}
    assert rejected(found) == {"FLATTEN": "dangling symbolic link"}


def test_a_symlink_to_a_regular_file_counts(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "flag").touch()
    (tmp_path / "PAUSE").symlink_to(target / "flag")
    assert scan(tmp_path).present == {Control.PAUSE: ["PAUSE"]}


@pytest.mark.parametrize("name", ["PAUSE", "ADJUST_RISK", "ADJUST_RISK.txt"])
def test_a_fifo_is_rejected_without_blocking(tmp_path: Path, name: str) -> None:
    os.mkfifo(tmp_path / name)  # opening this for reading would block until a writer came
    found = scan_with_deadline(tmp_path)
    assert found.present == {}
    assert found.content == {}
    assert rejected(found) == {name: "is a FIFO (named pipe), not a regular file"}


def test_a_symlink_to_a_fifo_is_rejected_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.rejected")  # ignored itself, but the link's target
    (tmp_path / "ADJUST_RISK").symlink_to(tmp_path / "pipe.rejected")
    found = scan_with_deadline(tmp_path)
    assert found.content == {}
    assert rejected(found) == {"ADJUST_RISK": "is a FIFO (named pipe), not a regular file"}


def test_adjust_risk_content_is_read(tmp_path: Path) -> None:
    (tmp_path / "ADJUST_RISK").write_bytes(b"max_position_usd = 2.5\n")
    (tmp_path / "ADJUST_RISK.txt").write_bytes(b"")
    found = scan(tmp_path)
    assert found.present == {Control.ADJUST_RISK: ["ADJUST_RISK", "ADJUST_RISK.txt"]}
    assert found.content == {"ADJUST_RISK": b"max_position_usd = 2.5\n", "ADJUST_RISK.txt": b""}


def test_adjust_risk_up_to_64_kib_is_read_and_larger_is_rejected(tmp_path: Path) -> None:
    assert MAX_CONTENT == 64 * 1024
    (tmp_path / "ADJUST_RISK").write_bytes(b"#" * MAX_CONTENT)
    found = scan(tmp_path)
    assert len(found.content["ADJUST_RISK"]) == MAX_CONTENT
    (tmp_path / "ADJUST_RISK").write_bytes(b"#" * (MAX_CONTENT + 1))
    found = scan(tmp_path)
    assert found.present == {}
    assert found.content == {}
    assert rejected(found) == {"ADJUST_RISK": f"larger than {MAX_CONTENT} bytes"}


def test_only_adjust_risk_content_is_read(tmp_path: Path) -> None:
    (tmp_path / "PAUSE").write_bytes(b"x" * (MAX_CONTENT + 10))  # a big PAUSE still pauses
    found = scan(tmp_path)
    assert found.present == {Control.PAUSE: ["PAUSE"]}
    assert found.content == {}


def test_scan_creates_a_missing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "controls"
    assert scan(folder) == Scan(recreated=True)
    assert folder.is_dir()


def test_good_and_bad_files_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "PAUSE.txt").touch()
    (tmp_path / "README.md").touch()
    (tmp_path / "FLATTEN").mkdir()
    (tmp_path / "junk").touch()
    found = scan_with_deadline(tmp_path)
    assert found.present == {Control.PAUSE: ["PAUSE.txt"]}
    assert sorted(rejected(found)) == ["FLATTEN", "junk"]


# ---------------------------------------------------------------------------
# quick_check and helpers


def test_quick_check_priority_emergency_stop_then_flatten_then_pause(tmp_path: Path) -> None:
    assert quick_check(tmp_path) is None
    for name in ("PAUSE_TRADING.txt", "FLATTEN_ALL", "EMERGENCY_STOP.txt"):
        (tmp_path / name).touch()
    assert quick_check(tmp_path) is Control.EMERGENCY_STOP
    (tmp_path / "EMERGENCY_STOP.txt").unlink()
    assert quick_check(tmp_path) is Control.FLATTEN
    (tmp_path / "FLATTEN_ALL").unlink()
    assert quick_check(tmp_path) is Control.PAUSE
    (tmp_path / "PAUSE_TRADING.txt").unlink()
    assert quick_check(tmp_path) is None


@pytest.mark.parametrize("name", files_for(Control.PAUSE) + files_for(Control.FLATTEN))
def test_quick_check_sees_every_blocking_spelling(tmp_path: Path, name: str) -> None:
    (tmp_path / name).touch()
    assert quick_check(tmp_path) is ALIASES[name.removesuffix(".txt")]


def test_quick_check_ignores_non_blocking_controls(tmp_path: Path) -> None:
    for name in ("ADJUST_RISK", "RESET", "README.md", "junk", "pause"):
        (tmp_path / name).touch()
    assert quick_check(tmp_path) is None


def test_quick_check_counts_a_dangling_link_or_fifo_without_blocking(tmp_path: Path) -> None:
    (tmp_path / "PAUSE").symlink_to(tmp_path / "gone")
    assert quick_check(tmp_path) is Control.PAUSE
    os.mkfifo(tmp_path / "EMERGENCY_STOP")
    assert quick_check(tmp_path) is Control.EMERGENCY_STOP


def test_quick_check_on_a_missing_folder(tmp_path: Path) -> None:
    assert quick_check(tmp_path / "nope") is None


def test_files_for_lists_every_spelling() -> None:
    assert files_for(Control.PAUSE) == ["PAUSE", "PAUSE_TRADING", "PAUSE.txt", "PAUSE_TRADING.txt"]
    assert files_for(Control.FLATTEN) == ["FLATTEN", "FLATTEN_ALL", "FLATTEN.txt", "FLATTEN_ALL.txt"]
    assert files_for(Control.EMERGENCY_STOP) == ["EMERGENCY_STOP", "EMERGENCY_STOP.txt"]


def test_remove_deletes_what_is_there_and_ignores_the_rest(tmp_path: Path) -> None:
    (tmp_path / "FLATTEN").touch()
    (tmp_path / "keep").touch()
    remove(tmp_path, files_for(Control.FLATTEN))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]
