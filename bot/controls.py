"""Control files: what `ls controls/` means, read safely, and a watcher that wakes the loop.

Reading never opens anything but small regular files, so nothing an operator (or a
confused agent) puts in `controls/` can block or crash the bot: directories, FIFOs,
dangling links, binary or huge files are reported as rejected with the reason.
"""

from __future__ import annotations

import contextlib
import enum
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class Control(enum.StrEnum):
    PAUSE = "PAUSE"
    FLATTEN = "FLATTEN"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    ADJUST_RISK = "ADJUST_RISK"
    RESET = "RESET"


ALIASES: dict[str, Control] = {
    "PAUSE": Control.PAUSE,
    "PAUSE_TRADING": Control.PAUSE,
    "FLATTEN": Control.FLATTEN,
    "FLATTEN_ALL": Control.FLATTEN,
    "EMERGENCY_STOP": Control.EMERGENCY_STOP,
    "ADJUST_RISK": Control.ADJUST_RISK,
    "RESET": Control.RESET,
}
KNOWN_NAMES = (
    "PAUSE, FLATTEN, EMERGENCY_STOP, ADJUST_RISK, RESET"
    " (also PAUSE_TRADING, FLATTEN_ALL, and a .txt suffix on any)"
)
IGNORED = {"README.md", ".gitignore", ".gitkeep"}
MAX_CONTENT = 64 * 1024


def control_for(name: str) -> Control | None:
    return ALIASES.get(name.removesuffix(".txt"))


def files_for(control: Control) -> list[str]:
    """Every spelling of `control`, for removing it."""
    names = [n for n, c in ALIASES.items() if c is control]
    return names + [n + ".txt" for n in names]


@dataclass(frozen=True, slots=True)
class Rejected:
    file: str
    reason: str
    signature: tuple[int, int, int]  # (inode, size, mtime_ns): report each version once


@dataclass
class Scan:
    present: dict[Control, list[str]] = field(default_factory=dict)
    content: dict[str, bytes] = field(default_factory=dict)  # ADJUST_RISK file -> bytes
    rejected: list[Rejected] = field(default_factory=list)

    def has(self, control: Control) -> bool:
        return control in self.present


def scan(folder: Path) -> Scan:
    result = Scan()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return result
    for entry in sorted(entries, key=lambda e: e.name):
        name = entry.name
        if name in IGNORED or name.startswith(".") or name.endswith(".rejected"):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # removed while we looked
        sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        control = control_for(name)
        if control is None:
            result.rejected.append(Rejected(name, f"unknown control file; known: {KNOWN_NAMES}", sig))
            continue
        reason = _unusable(entry)
        if reason:
            result.rejected.append(Rejected(name, reason, sig))
            continue
        if control is Control.ADJUST_RISK:
            try:
                with open(entry.path, "rb") as fh:
                    data = fh.read(MAX_CONTENT + 1)
            except OSError as exc:
                result.rejected.append(Rejected(name, f"cannot read: {exc.strerror}", sig))
                continue
            if len(data) > MAX_CONTENT:
                result.rejected.append(Rejected(name, f"larger than {MAX_CONTENT} bytes", sig))
                continue
            result.content[name] = data
        result.present.setdefault(control, []).append(name)
    return result


def _unusable(entry: os.DirEntry[str]) -> str:
    try:
        st = os.stat(entry.path)  # follows a link to its target
    except FileNotFoundError:
        return "dangling symbolic link"
    except OSError as exc:
        return f"cannot inspect: {exc.strerror}"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return ""


def remove(folder: Path, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()


def quick_check(folder: Path | str) -> Control | None:
    """The cheap re-check before every order: is an entry-blocking control present?

    A watcher can miss an event, so the order manager asks the file system itself: one
    directory listing (a few microseconds), not a stat per spelling.
    """
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return None
    found = _BLOCKING_NAMES.keys() & names
    if not found:
        return None
    return min((_BLOCKING_NAMES[n] for n in found), key=_PRECEDENCE.index)


_PRECEDENCE = [Control.EMERGENCY_STOP, Control.FLATTEN, Control.PAUSE]
_BLOCKING_NAMES: dict[str, Control] = {n: c for c in _PRECEDENCE for n in files_for(c)}


class Watcher:
    """Calls `wake()` on any change in the folder (watchdog's inotify observer on Linux)."""

    def __init__(self, folder: Path, wake: Callable[[], None]) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type not in ("opened", "closed_no_write"):
                    wake()

        self._observer = Observer()
        self._observer.schedule(_Handler(), str(folder), recursive=False)
        self._observer.daemon = True

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
