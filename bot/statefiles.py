"""The state-file writer: atomic replacement of a file, on a thread of its own.

`replace_file` puts the bytes in a temporary file in the same folder, fsyncs it, renames it
over the target with `os.replace` and fsyncs the folder, so a reader sees the old file or
the new one, never a torn one, even across a crash. The engine hands its state files to a
`FileWriter`, which does that on a thread of its own: the engine serialises its projections
(bot/state.py) in its own thread and never waits on the disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("bot")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def write_json(path: Path, data: Any) -> None:
    replace_file(path, dumps(data))


def replace_file(path: Path, payload: bytes) -> None:
    """Replace `path` atomically: a reader sees the old file or the new one, never a mix,
    and after a crash or a power cut the file on disk is one of the two (fsync of the file
    before the rename, and of the folder after it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):  # a full disk keeps no half-written temp file
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileWriter:
    """Replaces files from a thread of its own; of the bytes handed over for one file, only
    the newest are written. `flush()` returns once everything handed over is on disk."""

    def __init__(self) -> None:
        self._pending: dict[Path, bytes] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.last_error = ""  # the last write that failed, for the text log and the tests
        self.last_exc: OSError | None = None
        self._batch_started = 0.0  # monotonic time the files being written were taken up
        self.status_written = 0.0  # monotonic time status.json was last handed over (breaker)

    def put(self, path: Path, data: Any) -> None:
        payload = dumps(data)  # here, in the caller's thread: the objects are the engine's
        with self._cond:
            if self._closed:
                raise RuntimeError("the state file writer is closed")
            self._pending[path] = payload
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="state-files", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def busy_for(self) -> float:
        """Seconds the write under way has taken so far (0 when idle): a disk that hangs
        shows here, since nothing raises."""
        started = self._batch_started
        return time.monotonic() - started if started else 0.0

    def flush(self) -> None:
        with self._cond:
            while self._pending or self._busy:
                self._cond.wait()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, {}
                self._busy = True
                self._batch_started = time.monotonic()
            for path, payload in batch.items():
                try:
                    replace_file(path, payload)
                except OSError as exc:
                    self.last_exc = exc
                    self.failures += 1
                    self.last_error = f"cannot write {path}: {exc}"
                    log.error("%s", self.last_error)
            with self._cond:
                self._busy = False
                self._batch_started = 0.0
                self._cond.notify_all()
