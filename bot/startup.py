"""The home at start-up: one bot per folder, and a journal that matches the state files.

One bot per home. `HomeLock` holds an flock on the home folder itself (not on a file in it:
deleting `state/bot.lock`, or all of `state/`, cannot let a second bot in). `state/bot.lock`
only tells a refused start which pid runs; a refused start never writes it. `check()`, at
every heartbeat, writes the pid file again if it went missing and says when `state/` or the
journal at `state/bot.db` is no longer the one the bot opened.

A lost or damaged journal is never a silent fresh start. `open_journal` refuses (exit 3),
with what to do, when the state files show a past session but the journal is missing, empty,
not a file, damaged (`PRAGMA quick_check`), from a newer version, or ends before what the
files show (a deleted `bot.db-wal`, an older copy put back). `bot run --fresh` starts over on
purpose: `archive()` first moves the journal, the state files and the tapes to
`state/archive-<UTC time>/`. State files missing beside a good journal are simply rebuilt.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from bot import layout, storage
from bot.errors import StartupRefused
from bot.journal import Journal
from bot.layout import Paths
from bot.model import now_ms
from bot.statefiles import replace_file

log = logging.getLogger("bot")

LOCK_NAME = layout.LOCK
JOURNAL_NAME = layout.JOURNAL
JOURNAL_FILES = layout.JOURNAL_FILES
STATE_FILES = layout.STATE_FILES
FIX = (
    "restore state/bot.db (with its bot.db-wal) from a backup and `rm state/*.json` (the state"
    " files are rebuilt from the journal), or start over on purpose with `bot run --fresh`"
    " (the old files are kept in state/archive-<time>/)"
)


def identity(path: Path | int) -> tuple[int, int] | None:
    try:
        st = os.fstat(path) if isinstance(path, int) else os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class HomeLock:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.pid_file = paths.state / LOCK_NAME
        self._fd: int | None = None
        self._state: tuple[int, int] | None = None
        self.journal: tuple[int, int] | None = None  # set once the journal is open

    def acquire(self) -> None:
        fd = os.open(self.paths.home, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = read_pid(self.pid_file)
            who = f"pid {pid}" if pid else "another process"
            raise StartupRefused(
                f"another bot is already running in {self.paths.home} ({who} holds the home's lock)"
            ) from None
        self._fd = fd
        self._state = identity(self.paths.state)
        try:
            replace_file(self.pid_file, f"{os.getpid()}\n".encode())
        except BaseException:
            self.release()
            raise

    def check(self) -> str:
        """'' while the home is the one locked at start; else what changed."""
        if self._fd is None:
            return ""
        if identity(self.paths.state) != self._state:
            return "state/ was removed or replaced while the bot ran: stop it and restore state/bot.db"
        if self.journal is not None and identity(self.paths.state / JOURNAL_NAME) != self.journal:
            return (
                "state/bot.db was removed or replaced while the bot ran: what this bot commits"
                " no longer reaches it; stop the bot and restore the journal"
            )
        if read_pid(self.pid_file) != os.getpid():
            try:
                replace_file(self.pid_file, f"{os.getpid()}\n".encode())
                log.info("state/%s was missing or changed: written again", LOCK_NAME)
            except OSError:
                pass  # the lock is the folder's flock; the file only names the pid
        return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


# -- the journal against the state files -------------------------------------------------


def _shown(paths: Paths) -> tuple[str, dict[str, Any]] | None:
    """The state file that shows a past session, and what it says (session, activity)."""
    for name in layout.SNAPSHOT_FILES:
        path = paths.state / name
        if not path.is_file():
            continue
        data: dict[str, Any] = {}
        try:
            loaded = json.loads(path.read_bytes())
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            pass
        return name, data
    return None


def open_journal(paths: Paths) -> Journal:
    """The home's journal, checked against its state files; StartupRefused if they disagree."""
    db = paths.state / JOURNAL_NAME
    shown = _shown(paths)
    if os.path.lexists(db) and not db.is_file():
        kind = "a directory" if db.is_dir() else "not a regular file"
        raise StartupRefused(f"state/{JOURNAL_NAME} is {kind}, not a journal: {FIX}")
    size = db.stat().st_size if db.is_file() else None
    if not size:
        wal = db.with_name(f"{JOURNAL_NAME}-wal")
        what = "missing" if size is None else "empty"
        if shown is not None:
            name, data = shown
            session = f" session {data['session_id']}" if data.get("session_id") else " an earlier run"
            raise StartupRefused(f"state/{JOURNAL_NAME} is {what} but state/{name} shows{session}: {FIX}")
        if wal.is_file() and wal.stat().st_size:
            raise StartupRefused(f"state/{JOURNAL_NAME} is {what} but state/{wal.name} is not: {FIX}")
    try:
        journal = Journal(db)
    except sqlite3.DatabaseError as exc:
        raise StartupRefused(_unusable(exc)) from None
    try:
        _check(journal, shown)
    except sqlite3.DatabaseError as exc:
        journal.close()
        raise StartupRefused(_unusable(exc)) from None
    except BaseException:
        journal.close()
        raise
    return journal


def _unusable(exc: sqlite3.DatabaseError) -> str:
    if "locked" in str(exc) or "busy" in str(exc):
        return (
            f"state/{JOURNAL_NAME} is locked by another program ({exc}): close it (an sqlite3"
            " shell in a transaction?) and start again"
        )
    what = storage.describe(exc)
    if what is not None:
        return (
            f"cannot use state/{JOURNAL_NAME}: {what}; check the permissions of state/ and of"
            " bot.db, bot.db-wal and bot.db-shm, and the free space"
        )
    return f"state/{JOURNAL_NAME} is damaged ({exc}): {FIX}"


def _check(journal: Journal, shown: tuple[str, dict[str, Any]] | None) -> None:
    started = time.perf_counter()
    problems = journal.quick_check(3)
    log.debug("quick_check of the journal: %.3f s", time.perf_counter() - started)
    if problems != ["ok"]:
        found = "; ".join(" ".join(p.split()) for p in problems)  # SQLite's lines may hold newlines
        raise StartupRefused(f"state/{JOURNAL_NAME} is damaged (quick_check: {found}): {FIX}")
    # SQLite opens a journal it may not write read-only, without a word: write once to know
    journal.mark_opened(now_ms())
    if shown is None:
        return
    name, data = shown
    last_session = journal.last_session_id()
    session = data.get("session_id")
    activity = data.get("last_activity_id")
    behind = []
    if isinstance(session, int) and session > last_session:
        behind.append(f"session {last_session} against {session}")
    if isinstance(activity, int) and activity > journal.last_activity_id:
        behind.append(f"activity {journal.last_activity_id} against {activity}")
    if behind or not last_session:
        said = ", ".join(behind) or "no session at all"
        raise StartupRefused(
            f"state/{JOURNAL_NAME} ends before what state/{name} shows ({said}): it lost committed"
            f" data (a deleted bot.db-wal, an older copy put back?): {FIX}"
        )


# -- starting over on purpose -----------------------------------------------------------


def archive(paths: Paths) -> Path | None:
    """`bot run --fresh`: move the journal, the state files and the tapes aside."""
    present = [n for n in (*JOURNAL_FILES, *STATE_FILES) if os.path.lexists(paths.state / n)]
    tapes = paths.tapes
    if not present and not tapes.is_dir():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = paths.state / f"{layout.ARCHIVE_PREFIX}{stamp}"
    n = 1
    while os.path.lexists(target):
        n += 1
        target = paths.state / f"{layout.ARCHIVE_PREFIX}{stamp}-{n}"
    target.mkdir()
    for name in present:
        os.rename(paths.state / name, target / name)
    if tapes.is_dir():
        os.rename(tapes, target / layout.TAPES)
    return target
