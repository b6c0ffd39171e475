"""Control files: what `ls controls/` means, read safely, and a watcher that wakes the loop.

Reading never opens anything but small regular files, so nothing an operator (or a
confused agent) puts in `controls/` can block or crash the bot: directories, FIFOs,
dangling links, binary or huge files are reported as rejected with the reason.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot import layout
from bot.safefile import FileRefused, kind, read_small
from bot.safefile import printable as shown

log = logging.getLogger("bot")


class Control(enum.StrEnum):
    PAUSE = layout.PAUSE
    FLATTEN = layout.FLATTEN
    EMERGENCY_STOP = layout.EMERGENCY_STOP
    ADJUST_RISK = layout.ADJUST_RISK
    RESET = layout.RESET


ALIASES: dict[str, Control] = {
    **{name: Control(name) for name in layout.CONTROL_FILES},
    **{alias: Control(name) for alias, name in layout.CONTROL_ALIASES.items()},
}
KNOWN_NAMES = (
    f"{', '.join(layout.CONTROL_FILES)} (also {', '.join(layout.CONTROL_ALIASES)},"
    f" and a {layout.CONTROL_SUFFIX} suffix on any)"
)
IGNORED = layout.CONTROLS_IGNORED
MAX_CONTENT = 64 * 1024


def control_for(name: str) -> Control | None:
    return ALIASES.get(name.removesuffix(layout.CONTROL_SUFFIX))


def files_for(control: Control) -> list[str]:
    """Every spelling of `control`, for removing it."""
    names = [n for n, c in ALIASES.items() if c is control]
    return names + [n + layout.CONTROL_SUFFIX for n in names]


@dataclass(frozen=True, slots=True)
class Rejected:
    file: str  # the name as shown: printable, escaped (see `shown`)
    reason: str
    signature: tuple[int, int, int]  # (inode, size, mtime_ns): report each version once


@dataclass
class Scan:
    present: dict[Control, list[str]] = field(default_factory=dict)
    content: dict[str, bytes] = field(default_factory=dict)  # ADJUST_RISK file -> bytes
    rejected: list[Rejected] = field(default_factory=list)
    problem: str = ""  # the folder itself cannot be used: no control can be seen
    recreated: bool = False  # the folder was missing and was created again

    def has(self, control: Control) -> bool:
        return control in self.present


def excerpt(data: bytes, limit: int = 200) -> str:
    """A short printable excerpt of a control file's content, for a rejection note."""
    text = data[: limit * 4].decode("utf-8", "replace")
    return "".join(
        c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii") for c in text
    )[:limit]


def scan(folder: Path) -> Scan:
    result = Scan()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            result.recreated = True
        except OSError as exc:
            result.problem = f"{folder.name}/ is missing and cannot be created ({exc.strerror})"
        return result
    except NotADirectoryError:
        result.problem = f"{folder.name} is {_what(folder)}, not a folder: no control can be seen"
        return result
    except OSError as exc:
        result.problem = f"{folder.name}/ cannot be listed ({exc.strerror}): no control can be seen"
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
            reason = f"unknown control file; known: {KNOWN_NAMES}"
            result.rejected.append(Rejected(shown(name), reason, sig))
            continue
        reason = _unusable(entry)
        if reason:
            result.rejected.append(Rejected(name, reason, sig))
            continue
        if control is Control.ADJUST_RISK:
            try:
                result.content[name] = _read_inside(folder, name)
            except FileRefused as exc:
                result.rejected.append(Rejected(name, str(exc), sig))
                continue
        result.present.setdefault(control, []).append(name)
    return result


def _read_inside(folder: Path, name: str) -> bytes:
    """The content of controls/NAME, read only if it is, or links to, a file in `folder`."""
    path = folder / name
    if not os.path.islink(path):
        return read_small(path, MAX_CONTENT, follow=False)
    target = os.path.realpath(path)
    if os.path.dirname(target) != os.path.realpath(folder):
        raise FileRefused(f"symbolic link to a file outside {folder.name}/: not read")
    return read_small(target, MAX_CONTENT, follow=False)


def _what(path: Path) -> str:
    try:
        return kind(os.stat(path).st_mode)
    except OSError:
        return "not a folder"


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
        return f"is {kind(st.st_mode)}, not a regular file"
    return ""


def remove(folder: Path, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # gone, or so is the folder
            (folder / name).unlink()


def quick_check(folder: Path | str) -> Control | None:
    """The cheap re-check before every order: is an entry-blocking control present?

    A watcher can miss an event, so the order manager asks the file system itself: one
    directory listing (a few microseconds), not a stat per spelling.
    """
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return None  # nothing is present; the next scan creates the folder again
    except OSError:
        return Control.PAUSE  # a file or an unreadable folder: fail closed, no entries
    found = _BLOCKING_NAMES.keys() & names
    if not found:
        return None
    return min((_BLOCKING_NAMES[n] for n in found), key=_PRECEDENCE.index)


_PRECEDENCE = [Control.EMERGENCY_STOP, Control.FLATTEN, Control.PAUSE]
_BLOCKING_NAMES: dict[str, Control] = {n: c for c in _PRECEDENCE for n in files_for(c)}


class Watcher:
    """Calls `wake()` on any change in the folder, and keeps watching it whatever happens to it.

    inotify (watchdog's observer on Linux) reports a change at once, but it watches one
    folder *inode*: after `rm -rf controls; mkdir controls` it would follow the old, deleted
    folder and never report again. So a poll thread looks every `poll_s` seconds: when the
    folder was removed, replaced or turned into a file it wakes the loop (whose scan creates
    a missing folder again, or reports what is wrong) and watches the new folder; when the
    listing changed without an event (one inotify missed) it wakes the loop too. A control is
    therefore seen within `poll_s` even when inotify is lost.
    """

    def __init__(self, folder: Path, wake: Callable[[], None], poll_s: float = 0.5) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type not in ("opened", "closed_no_write"):
                    wake()

        self.folder = folder
        self.wake = wake
        self.poll_s = poll_s
        self.rewatched = 0  # how many times a replaced folder was watched again
        self._handler = _Handler()
        self._observer = Observer()
        self._observer.daemon = True
        self._identity: tuple[int, int, bool] | None = None  # (dev, inode, is a folder); None: missing
        self._pin: int | None = None  # an open descriptor of the watched folder (see _watch)
        self._listing: frozenset[tuple[str, int, int, int]] | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="controls-poll", daemon=True)

    def start(self) -> None:
        self._observer.start()
        self._listing = self._current_listing()
        self._watch()
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        self._unpin()

    def _watch(self) -> None:
        """Watch the folder now under the name (none if there is no folder)."""
        with contextlib.suppress(Exception):  # the folder may vanish again meanwhile
            self._observer.unschedule_all()
        self._unpin()
        try:
            # Holding the folder open keeps its inode allocated, so a folder created again
            # under the same name cannot get the same inode number: (dev, inode) tells them
            # apart. The identity is the opened folder's, the one then watched.
            self._pin = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            st = os.fstat(self._pin)
            self._observer.schedule(self._handler, str(self.folder), recursive=False)
        except OSError:
            self._unpin()
            # nothing watched: remember what is there (missing, a file) so that the poll sees
            # it change; a folder there (it appeared meanwhile) is tried again at the next poll
            now = self._folder_identity()
            self._identity = (-1, -1, False) if now is not None and now[2] else now
            return
        self._identity = (st.st_dev, st.st_ino, True)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self._poll_once()
            except Exception:  # never let this thread die: it is what catches inotify's misses
                log.exception("controls watcher: poll failed; trying again")
                self.wake()

    def _poll_once(self) -> None:
        if self._folder_identity() != self._identity:
            self._watch()
            self.rewatched += 1
            self.wake()
        listing = self._current_listing()
        if listing != self._listing:
            self._listing = listing
            self.wake()

    def _unpin(self) -> None:
        if self._pin is not None:
            with contextlib.suppress(OSError):
                os.close(self._pin)
            self._pin = None

    def _folder_identity(self) -> tuple[int, int, bool] | None:
        try:
            st = os.stat(self.folder)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, stat.S_ISDIR(st.st_mode))

    def _current_listing(self) -> frozenset[tuple[str, int, int, int]] | None:
        try:
            with os.scandir(self.folder) as it:
                out = set()
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    out.add((entry.name, st.st_ino, st.st_size, st.st_mtime_ns))
                return frozenset(out)
        except OSError:
            return None
