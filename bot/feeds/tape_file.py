"""The tape's file (bot/feeds/tape.py has the format): its header checked, its gzip members
decompressed up to a truncated or corrupt end, and a tape cut short by a crash made safe to
append to."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Final

import orjson

from bot.errors import BotError
from bot.safefile import FileRefused, open_regular

_inflate_lib: ModuleType = zlib
try:  # zlib-ng (the `fast` extra) inflates a tape ~2x faster, with zlib's messages
    from zlib_ng import zlib_ng

    _inflate_lib = zlib_ng
except ImportError:  # pragma: no cover - the standard library's zlib
    pass
_INFLATE_ERRORS: Final = (zlib.error, _inflate_lib.error)

_GZIP_MAGIC: Final = b"\x1f\x8b"
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate data
_READ_CHUNK: Final = 1 << 18
_HEAD_LIMIT: Final = 1 << 16  # the header line must appear within this many bytes
_EXAMPLE_HEADER: Final = '{"e":"tape","version":1,...}'
TAPE_VERSION: Final = 1


class DataError(BotError, ValueError):
    """Input data cannot be used. The message is one line naming the file and what was
    expected."""


def prepare_for_append(path: Path) -> int | None:
    """Make an existing file safe to append a gzip member to.

    Returns None for a missing, empty or complete tape. A tape cut short by a crash is
    rewritten with its complete lines only; the number of lines kept is returned.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    is_gzip, head = head_of(path)
    if is_gzip and not head:
        # killed before the first flush of its header: holds nothing; start afresh
        path.write_bytes(b"")
        return None
    check_tape_file(path, purpose="append to")
    with open(path, "rb") as f:
        stream = Stream(f, gzip=True)
        for _ in stream.chunks():
            pass
    if not stream.truncated:
        return None
    tmp = path.with_name(path.name + ".recover.tmp")
    kept = 0
    with open(path, "rb") as f, gzip.GzipFile(tmp, mode="wb", compresslevel=2) as out:
        pending = b""
        for chunk in Stream(f, gzip=True).chunks():
            data = pending + chunk
            end = data.rfind(b"\n") + 1
            out.write(data[:end])
            kept += data.count(b"\n", 0, end)
            pending = data[end:]
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return kept


class Stream:
    """The decompressed bytes of a gzip file of one or more members, or of a plain file.

    Reading stops without an exception at a truncated or corrupt end; ``truncated`` and
    ``problem`` then say so.
    """

    def __init__(self, f: IO[bytes], *, gzip: bool) -> None:
        self._f = f
        self._gzip = gzip
        self.truncated = False
        self.problem = ""

    def chunks(self) -> Iterator[bytes]:
        read = self._f.read
        if not self._gzip:
            while chunk := read(_READ_CHUNK):
                yield chunk
            return
        decompressobj = _inflate_lib.decompressobj
        d = decompressobj(_GZIP_WBITS)
        started = False  # the current member has been given input
        members = 0
        while raw := read(_READ_CHUNK):
            data = raw
            while data:
                try:
                    out = d.decompress(data)
                except _INFLATE_ERRORS as exc:
                    self.truncated = True
                    where = "after" if not started else "in"
                    self.problem = f"corrupt gzip data {where} member {members + 1} ({exc})"
                    return
                started = True
                if out:
                    yield out
                if d.eof:
                    members += 1
                    data = d.unused_data
                    d = decompressobj(_GZIP_WBITS)
                    started = False
                else:
                    data = b""
        if started:
            out = d.flush()
            if out:
                yield out
            self.truncated = True
            self.problem = f"gzip member {members + 1} ends early (was the writer killed?)"


def check_tape_file(path: Path, *, purpose: str = "read") -> bool:
    """Raise DataError unless ``path`` starts with a tape header line; return is-gzip."""
    expected = f"expected a tape (*.jsonl.gz) whose first line is {_EXAMPLE_HEADER}"
    try:
        is_gzip, text = head_of(path)
    except FileRefused as exc:  # missing, a folder, a FIFO, a device: never opened to block
        raise DataError(f"{path}: {exc}; {expected}") from None
    except zlib.error as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc}); {expected}") from None
    if not text and not is_gzip:
        raise DataError(f"{path}: empty file; {expected}")
    first, newline, _ = text.partition(b"\n")
    if not newline:
        raise DataError(f"{path}: no complete first line; {expected}")
    col = None
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        obj, col = None, exc.colno
    if not isinstance(obj, dict) or obj.get("e") != "tape":
        shown = first[:60].decode("utf-8", "replace")
        place = f"{path}:1:{col}" if col is not None else f"{path}:1"
        raise DataError(f"{place}: not a tape (first line {shown!r}); {expected}")
    check_version(path, obj)
    if purpose != "read" and not is_gzip:
        raise DataError(f"{path}: cannot {purpose} an uncompressed tape; {expected}")
    return is_gzip


def head_of(path: Path) -> tuple[bool, bytes]:
    """(is gzip, the first up to _HEAD_LIMIT bytes of its content). Raises zlib.error."""
    with open_regular(path) as f:
        head = f.read(_HEAD_LIMIT)
    if not head.startswith(_GZIP_MAGIC):
        return False, head
    return True, zlib.decompressobj(_GZIP_WBITS).decompress(head, _HEAD_LIMIT)


def check_version(path: Path, header: dict[str, Any]) -> None:
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DataError(f"{path}:1: tape header {header!r} has no valid version; expected a version number")
    if version > TAPE_VERSION:
        raise DataError(
            f"{path}: tape version {version} is newer than this reader;"
            f" expected version {TAPE_VERSION} (update the bot to read it)"
        )
