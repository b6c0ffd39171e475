"""Reading the bot's home without ever blocking: one way to open a file that someone else put there.

A plain `open()` of a FIFO with no writer blocks until one comes, so a named pipe put (or
swapped in) under `bot.toml`, a control file or a backtest input could freeze a thread
until `kill -9`. Here a file is first looked at with `stat` (a directory, FIFO, socket or
device is refused without being opened, so opening a device has no side effect), then
opened with O_NONBLOCK, and the opened descriptor is checked again with `fstat`: whatever
is swapped in between the two, only a regular file is ever read. `read_small` reads at
most `limit` bytes.

Both raise `FileRefused`, whose message is a short reason ("is a FIFO, not a regular
file"); callers put the path in front and raise their own error type.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from bot.errors import BotError

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class FileRefused(BotError, OSError):
    """The file cannot be read safely; str() is the reason, without the path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def printable(text: str, limit: int = 120) -> str:
    """`text` as one printable line of at most `limit` characters, for showing a file name.

    A name that is not UTF-8 (its bytes arrive as surrogate escapes, which neither SQLite
    nor orjson accept) shows as `\\xff`; control characters (a newline in a name) as `\\n`,
    `\\x1b`; anything longer is cut with "...".
    """
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that came from elsewhere
        data = text.encode("utf-8", "surrogatepass")
    raw = data.decode("utf-8", "backslashreplace")
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def kind(mode: int) -> str:
    """What a file is, in words, from its st_mode."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def open_regular(path: Path | str, *, follow: bool = True, dir_fd: int | None = None) -> BinaryIO:
    """Open `path` for reading if, and only if, it is a regular file; never blocks.

    `follow=False` refuses a symbolic link as the last component (O_NOFOLLOW).
    """
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow)
    except FileNotFoundError:
        if os.path.lexists(path) if dir_fd is None else _lexists(path, dir_fd):
            raise FileRefused("dangling symbolic link (its target does not exist)") from None
        raise FileRefused("no such file") from None
    except OSError as exc:
        raise FileRefused(f"cannot inspect ({exc.strerror})") from None
    _check(st.st_mode)
    try:
        fd = os.open(path, _FLAGS | (0 if follow else os.O_NOFOLLOW), dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise FileRefused("became a symbolic link while being opened") from None
        if isinstance(exc, FileNotFoundError):
            raise FileRefused("removed while being opened") from None
        raise FileRefused(f"cannot read ({exc.strerror})") from None
    try:
        _check(os.fstat(fd).st_mode)  # what was opened, not what the name pointed to before
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_append(path: Path | str) -> BinaryIO:
    """Open (or create) `path` for appending if, and only if, it is a regular file; never
    blocks (a FIFO without a reader would block a plain open for writing for ever)."""
    with contextlib.suppress(FileNotFoundError):
        _check(os.stat(path).st_mode)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO swapped in, with no reader
            raise FileRefused("is a FIFO (named pipe), not a regular file") from None
        raise
    try:
        _check(os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise


def read_small(path: Path | str, limit: int, *, follow: bool = True, dir_fd: int | None = None) -> bytes:
    """The content of a regular file of at most `limit` bytes; FileRefused otherwise."""
    with open_regular(path, follow=follow, dir_fd=dir_fd) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise FileRefused(f"cannot read ({exc.strerror})") from None
    if len(data) > limit:
        raise FileRefused(f"larger than {limit} bytes")
    return data


def _check(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise FileRefused(f"is {kind(mode)}, not a regular file")


def _lexists(path: Path | str, dir_fd: int) -> bool:
    try:
        os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def replace_small(path: Path, data: bytes) -> None:
    """Put `data` under `path` by writing a hidden temporary file beside it and renaming it
    over the name: whatever was there (a FIFO, a symbolic link) is replaced, never opened,
    so this cannot block and never writes through a link. A directory there raises."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
