"""The disk under the home: telling a refused write from a bug, and keeping room to say so.

A write that fails for lack of space or permission (ENOSPC, EDQUOT, EROFS, EACCES, EPERM, or
SQLite's "database or disk is full", "attempt to write a readonly database", "disk I/O
error") is not a crash: the engine goes HALTED with the reason and retries (bot/engine.py),
and start-up refuses with one line (bot/startup.py). `describe()` says whether an exception is
one of those, in words an operator can act on.

A full disk would also keep the bot from writing that it is HALTED. So the bot keeps a
`Reserve`: `state/disk.reserve`, RESERVE_BYTES of zeros written at start. When the disk
fills, the reserve is deleted, which gives the journal, the state files and the logs room
to record the halt; it is written again (and the halt lifted) once `probe()` shows that
there is room for it and for a further PROBE_BYTES.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from contextlib import suppress
from pathlib import Path

from bot.errors import StorageError
from bot.layout import RESERVE

RESERVE_NAME = RESERVE
RESERVE_BYTES = 1 << 20
PROBE_BYTES = 256 << 10

DISK_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
}
SQLITE_DISK = (
    ("disk is full", "the disk is full"),
    ("readonly database", "the journal is read-only"),
    ("disk i/o error", "input/output error"),
    ("unable to open database file", "the journal cannot be opened"),
)


def describe(exc: BaseException) -> str | None:
    """'what went wrong (the error)' when `exc` is a refused write, else None."""
    if isinstance(exc, StorageError):
        cause = exc.__cause__
        what = describe(cause) if cause is not None else None
        return str(exc) if what is None else f"{what.split(' (')[0]} ({exc})"
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        path = exc.filename2 or exc.filename  # a rename names the file it replaces second
        where = f" ({path})" if path else ""
        return f"{DISK_ERRNOS[exc.errno]}{where}"
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        for needle, what in SQLITE_DISK:
            if needle in text:
                return f"{what} (sqlite: {exc})"
    return None


def write_zeros(path: Path, size: int) -> None:
    """Write `size` bytes to `path` and fsync; on failure remove what was written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        block = bytes(min(size, 64 << 10))
        left = size
        while left:
            left -= os.write(fd, block[:left])
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def probe(folder: Path, size: int = PROBE_BYTES) -> None:
    """Raise OSError unless `size` bytes can be written (and fsynced) in `folder`."""
    path = folder / f".probe.{os.getpid()}"
    write_zeros(path, size)
    os.unlink(path)


class Reserve:
    """RESERVE_BYTES kept on the home's disk, given up when the disk is full."""

    def __init__(self, state_dir: Path, size: int = RESERVE_BYTES) -> None:
        self.path = state_dir / RESERVE_NAME
        self.size = size

    def create(self) -> None:
        """At start-up: raises OSError when the disk cannot hold it (and a probe beyond)."""
        with suppress(OSError):
            os.unlink(self.path)  # what an earlier run left is not counted as room
        write_zeros(self.path, self.size)
        probe(self.path.parent)

    def release(self) -> bool:
        """Free the room for the writes that record a halt; False if already freed."""
        try:
            os.unlink(self.path)
        except OSError:
            return False
        return True

    def restore(self) -> None:
        """Raises OSError while there is no room yet for the reserve and a probe."""
        if not self.path.exists() or self.path.stat().st_size != self.size:
            write_zeros(self.path, self.size)
        probe(self.path.parent)
