"""Size-based rotation of the logs the bot appends to, at a line boundary, losing no line.

`RotatingLog` is an append-only file (`logs/activity.jsonl`, `signals.jsonl`, `trades.jsonl`)
that, before a write would take it past `max_bytes`, renames NAME to NAME.1 (NAME.1 to
NAME.2 ... up to NAME.`keep`; the oldest beyond is dropped) and starts a new NAME. It only
ever rotates where the file ends with a complete line, and writes whole lines up to the
limit, so every line is in exactly one file: a line longer than `max_bytes` gets a file of
its own. `tail -F NAME` follows across a rotation (it reopens the name). `bot.log` rotates
the same way through `text_handler` (the standard library's RotatingFileHandler, which
rolls over between records). `max_bytes = 0` never rotates.

`write` has the contract of a raw file's: it returns how many bytes it wrote, possibly
fewer than given, and raises OSError having written nothing, so bot/activity.py keeps what
a full disk refused for its next flush.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path
from typing import IO


class RotatingLog:
    def __init__(self, path: Path, max_bytes: int = 0, keep: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = max(1, keep)
        self.fh: IO[bytes] | None = None
        self.size = 0
        self.at_line_end = True
        self.rotations = 0
        self._open()

    def _open(self) -> IO[bytes]:
        fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for the session
        self.size = os.fstat(fh.fileno()).st_size
        self.at_line_end = self.size == 0 or _last_byte(self.path) == b"\n"
        self.fh = fh
        return fh

    def write(self, data: bytes | memoryview) -> int:
        fh = self.fh or self._open()
        if self.max_bytes and self.at_line_end and self.size + len(data) > self.max_bytes:
            cut = _lines_within(data, self.max_bytes - self.size)
            if cut:
                data = data[:cut]
            elif self.size:
                fh = self.rotate()
        if self.max_bytes and self.size == 0 and len(data) > self.max_bytes:
            data = data[: _lines_within(data, self.max_bytes) or _first_line(data)]
        elif not self.at_line_end:  # finish the line a short write left open, nothing more
            data = data[: _first_line(data)]
        written = fh.write(data) or 0
        self.size += written
        if written:
            self.at_line_end = bytes(data[written - 1 : written]) == b"\n"
        return written

    def rotate(self) -> IO[bytes]:
        """NAME -> NAME.1 -> NAME.2 ...; a new, empty NAME."""
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        top = 1  # NAME.1 ... NAME.top-1 exist (they are numbered without gaps)
        while top < self.keep and self._numbered(top).exists():
            top += 1
        for n in range(top - 1, 0, -1):  # NAME.keep, when there, is replaced: the oldest goes
            os.replace(self._numbered(n), self._numbered(n + 1))
        os.replace(self.path, self._numbered(1))
        self.rotations += 1
        return self._open()

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _lines_within(data: bytes | memoryview, limit: int) -> int:
    """Bytes of the whole lines at the start of `data` that fit in `limit`; 0 when none does."""
    return bytes(data[: max(0, limit)]).rfind(b"\n") + 1


def _first_line(data: bytes | memoryview) -> int:
    return bytes(data).find(b"\n") + 1 or len(data)


def _last_byte(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1)
    except OSError:
        return b"\n"


class QuietRotatingHandler(logging.handlers.RotatingFileHandler):
    """bot.log: rotated between records; on a full or read-only disk the line is dropped, not
    a traceback on stderr (the refused write itself is reported through HALTED and the
    activity feed)."""

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped = getattr(self, "dropped", 0) + 1


def text_handler(path: Path, max_bytes: int, keep: int) -> QuietRotatingHandler:
    return QuietRotatingHandler(path, maxBytes=max_bytes, backupCount=max(1, keep), encoding="utf-8")
