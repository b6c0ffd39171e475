"""Opening the journal: a new one is built and committed whatever else holds the frames of
the code that built it (a Dask worker samples its task thread's frames every 10 ms)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

from bot.journal import Journal
from bot.model import Mode
from bot.schema import MIGRATIONS


def test_a_new_journal_opens_while_a_profiler_holds_every_frame(tmp_path: Path) -> None:
    """A frame kept by a profiler keeps its locals, cursors included. A cursor whose
    `PRAGMA journal_mode=wal` was never read to its end counts in SQLite as a write in
    progress, and every COMMIT on the connection then fails with "cannot commit transaction -
    SQL statements in progress" (the Dask sweep's one failure under load). A Dask worker's
    profiler holds its task thread's frames while it reads their source files (linecache): the
    read lets the task run on, out of sqlite-utils' `execute`, into the journal's first COMMIT.
    Sampled that way, 6 of 2,689 new journals failed before the fix; this test holds every
    frame, so it fails every time without the fix."""
    held: list[FrameType] = []

    def sample(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            held.append(frame)

    sys.setprofile(sample)
    try:
        journal = Journal(tmp_path / "bot.db")
        journal.start_session(Mode.PAPER, "test", 1, {}, 1_000)
    finally:
        sys.setprofile(None)
    assert held  # the profiler saw the journal being built
    assert journal.get_meta("schema_version") == str(len(MIGRATIONS))
    assert journal.last_session_id() == 1
    journal.close()
    again = Journal(tmp_path / "bot.db")
    assert again.last_session_id() == 1
    again.close()
