"""Handing a forecast or an order intent to the bot, for scripts and `bot mcp`: the client
side of inbox/ (inbox/README.md).

`submit(home, item)` writes the JSON under a temporary name, renames it to
`inbox/NAME.json` (so the bot never reads half a file) and waits for the bot's answer in
`inbox/done/` (`NAME.accepted.json` or `NAME.rejected.json`). `answers(home)` lists the
latest answers. Reading side: it never imports the engine.

    from bot.inbox_client import submit
    answer = submit(Path("."), {"kind": "forecast", "market": "BTC", "probability": 0.62,
                                "valid_until": "2026-12-03T03:00:00Z", "source": "my-agent"})
    answer["result"]   # "accepted" or "rejected"; "no answer" when no bot took it in time
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from bot import layout
from bot.errors import BotError
from bot.layout import Paths
from bot.safefile import FileRefused, read_small

MAX_ANSWER = 64 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class InboxClientError(BotError, ValueError):
    """The item cannot be handed in (a bad name, no inbox folder); the message says why."""


def write(home: Path, item: dict[str, Any], name: str | None = None) -> str:
    """Put `item` in inbox/ as NAME.json, written then renamed; return NAME (a fresh one when None)."""
    stem = name or f"{item.get('kind', 'item')}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    if not _NAME.match(stem):
        raise InboxClientError(f"name {stem!r}: letters, digits, - and _ only (at most 100)")
    folder = Paths(home).inbox
    if not folder.is_dir():
        raise InboxClientError(f"{folder} is not a folder: is {home} a bot home? (bot run creates it)")
    done = Paths(home).inbox_done
    if any(os.path.lexists(done / layout.ack_name(stem, a)) for a in (True, False)):
        raise InboxClientError(f"name {stem!r} was already answered in inbox/done/: use a new name")
    data = json.dumps(item).encode()
    tmp = folder / f".{stem}.{os.getpid()}{layout.INBOX_TEMP_SUFFIX}"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.rename(tmp, folder / f"{stem}{layout.INBOX_SUFFIX}")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return stem


def wait(home: Path, stem: str, timeout_s: float) -> dict[str, Any] | None:
    """The bot's answer to inbox/STEM.json, or None when none came within `timeout_s`."""
    done = Paths(home).inbox_done
    paths = [done / layout.ack_name(stem, accepted) for accepted in (True, False)]
    deadline = time.monotonic() + timeout_s
    pause = 0.001
    while True:
        for path in paths:
            answer = _read(path)
            if answer is not None:
                return answer
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def submit(
    home: Path, item: dict[str, Any], timeout_s: float = 10.0, name: str | None = None
) -> dict[str, Any]:
    """Hand `item` to the bot and return its answer; `result` is "no answer" when none came."""
    stem = write(home, item, name)
    answer = wait(home, stem, timeout_s)
    if answer is not None:
        return answer
    where = f"{layout.INBOX}/{stem}{layout.INBOX_SUFFIX}"
    return {
        "file": f"{stem}{layout.INBOX_SUFFIX}",
        "result": "no answer",
        "reason": f"no answer within {timeout_s:g} s; {where} waits for the bot",
    }


def answers(home: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The newest `limit` answers in inbox/done/, newest first."""
    done = Paths(home).inbox_done
    found: list[tuple[int, Path]] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(done):
            if entry.name.endswith((layout.ACCEPTED_SUFFIX, layout.REJECTED_SUFFIX)):
                with contextlib.suppress(OSError):
                    found.append((entry.stat(follow_symlinks=False).st_mtime_ns, Path(entry.path)))
    found.sort(reverse=True)
    out = []
    for _, path in found[: max(0, limit)]:
        answer = _read(path)
        if answer is not None:
            out.append(answer)
    return out


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_small(path, MAX_ANSWER, follow=False))
    except (FileRefused, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
