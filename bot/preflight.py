"""The home before a run (preflight): every folder a folder, every file a file, no stale leftovers.

`prepare(home)` creates what is missing and refuses, with one line naming the path
(`HomeError`, exit 2), a home where `state/` or `logs/` is a file, `bot.lock`, the journal
or a log is a folder, or any of them is a FIFO, socket, device or dangling link: opening a
FIFO for appending would block the bot for good, and the others fail later with a
traceback instead of a message. Nothing is traded before this passes.

`remove_stale_temp(folder)` deletes the `.NAME.PID.tmp` files an atomic write leaves when
the process is killed between writing and renaming (bot/state.py `replace_file`), but only
those whose pid is not a running process: a live writer's file is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

from bot import layout
from bot.errors import BotError
from bot.layout import Paths
from bot.safefile import kind


class HomeError(BotError):
    """The home has a folder where a file belongs, or the reverse; the message names it."""


FOLDERS = layout.FOLDERS
SUBFOLDERS = (f"{layout.LOGS}/{layout.TAPES}",)
FILES = (
    *(f"{layout.STATE}/{name}" for name in (layout.LOCK, *layout.JOURNAL_FILES, layout.TRADING_STATE)),
    *(f"{layout.STATE}/{name}" for name in (layout.STATUS, layout.TRADES_TODAY, layout.RECONCILIATION)),
    *(f"{layout.LOGS}/{name}" for name in (layout.BOT_LOG, layout.ACTIVITY_LOG, layout.SIGNALS_LOG)),
    *(f"{layout.LOGS}/{name}" for name in (layout.TRADES_LOG, layout.DRY_RUN_ORDERS)),
)
_TEMP = re.compile(r"^\..+\.(\d+)\.tmp$")


def prepare(home: Path) -> None:
    """Check the home's shape and create its folders; HomeError names the first problem."""
    _folder(home, "the bot's home")
    for name in FOLDERS:
        _folder(home / name, f"{name}/")
    for name in SUBFOLDERS:
        path = home / name
        if os.path.lexists(path):
            _folder(path, f"{name}/")
    for name in FILES:
        _file(home / name)
    tapes = Paths(home).tapes
    with contextlib.suppress(OSError):
        for entry in os.scandir(tapes):  # a session's tape is appended to: a FIFO would block
            if entry.name.startswith(layout.TAPE_PREFIX) and entry.name.endswith(layout.TAPE_SUFFIX):
                _file(Path(entry.path))


def _folder(path: Path, what: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise HomeError(f"{path}: dangling symbolic link where {what} belongs (remove it)") from None
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HomeError(f"{path}: cannot create {what} ({exc.strerror})") from None
        return
    except OSError as exc:
        raise HomeError(f"{path}: cannot inspect {what} ({exc.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise HomeError(f"{path}: is {kind(st.st_mode)}, but {what} must be a folder (move it away)")


def _file(path: Path) -> None:
    if not os.path.lexists(path):
        return
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise HomeError(f"{path}: dangling symbolic link (remove it or restore its target)") from None
    except OSError as exc:
        raise HomeError(f"{path}: cannot inspect ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise HomeError(f"{path}: is {kind(st.st_mode)}, not a regular file (move it away)")


def remove_stale_temp(folder: Path) -> list[str]:
    """Delete `.NAME.PID.tmp` files of processes that no longer run; return their names."""
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMP.match(name)
        if match is None or _running(int(match.group(1))):
            continue
        path = folder / name
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
                removed.append(name)
    return sorted(removed)


def _running(pid: int) -> bool:
    if pid <= 0 or pid >= 2**31 or pid == os.getpid():
        return False  # no such pid, or this process's namesake: it has written nothing yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
