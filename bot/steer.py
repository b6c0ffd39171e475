"""Steering a bot through its control files, and its answer: the library behind `bot pause`,
`resume`, `flatten`, `stop`, `adjust`, `reset` and the steering tools of `bot mcp`.

Each function creates or removes files in controls/ (the same path an operator or an agent
uses with `touch` and `rm`), then waits for the running bot's answer (bot/ack.py) and returns
an `Outcome`: the exit code documented in bot/ack.py and the lines to show, each marked as an
error line or not. Nothing here prints, so the command line and the MCP server say the same.

Standard library only (plus bot.controls, bot.safefile): the reading side imports this.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.ack import (
    EXIT_NOT_RUNNING,
    in_effect,
    last_control_id,
    wait_flatten,
    wait_recorded,
    wait_stop,
)
from bot.controls import Control, files_for
from bot.errors import BotError
from bot.home import running
from bot.layout import ADJUST_RISK, EMERGENCY_STOP, FLATTEN, PAUSE, RESET, Paths


class SteerError(BotError):
    """A control file could not be written; the message is one line naming the file."""


@dataclass(frozen=True)
class Outcome:
    code: int  # as documented in bot/ack.py: 0 acknowledged, 1 no bot, 2 rejected, 4 no answer
    lines: tuple[tuple[str, bool], ...]  # (text, is an error line)

    @property
    def text(self) -> str:
        return "\n".join(line for line, _ in self.lines)


def touch(home: Path, name: str, text: str = "") -> Path:
    """Create controls/NAME in one rename: never opens, follows or blocks on what is there."""
    from bot.safefile import replace_small

    path = Paths(home).control(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_small(path, text.encode())
    except OSError as exc:
        raise SteerError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def present(home: Path, names: list[str]) -> list[str]:
    return [n for n in names if Paths(home).control(n).exists()]


def remove(home: Path, names: list[str]) -> list[str]:
    removed = []
    for name in names:
        path = Paths(home).control(name)
        if path.exists() or path.is_symlink():
            path.unlink()
            removed.append(name)
    return removed


def confirm(home: Path, control: str, timeout: float, act: Callable[[], str], wait: bool = True) -> Outcome:
    """Run `act` (it changes controls/ and says what it did); then, when a bot runs there and
    `wait`, wait for its answer in the journal (bot/ack.py): 0 APPLIED, 2 REJECTED, 4 none.
    With no bot running the file waits for the next start: a note, and 0."""
    bot = running(home)
    after = last_control_id(home)
    did = act()
    if bot.pid is None:
        note = f"note: no bot is running in {home} ({bot.why}); the file acts when one starts"
        return Outcome(0, ((did, False), (note, True)))
    if not wait:
        return Outcome(0, ((did, False),))
    answer = wait_recorded(home, bot.pid, control, after, timeout)
    return Outcome(answer.code, ((did, False), (answer.message, answer.code != 0)))


def wait_for_bot(home: Path, path: Path, timeout: float, wait: Callable[..., Any]) -> Outcome:
    """After creating `path` (FLATTEN, EMERGENCY_STOP): the bot's acknowledgement (bot/ack.py)."""
    bot = running(home)
    if bot.pid is None:
        return Outcome(
            EXIT_NOT_RUNNING, ((f"created {path}, but no bot is running in {home}: {bot.why}", True),)
        )
    waiting = f"created {path}; waiting for the bot (pid {bot.pid}) to acknowledge"
    answer = wait(home, bot.pid, path, timeout)
    return Outcome(int(answer.code), ((waiting, False), (answer.message, answer.code != 0)))


def pause(home: Path, timeout: float) -> Outcome:
    if PAUSE in in_effect(home) and present(home, files_for(Control.PAUSE)):
        return Outcome(0, ((f"{PAUSE} is already in effect in {home}", False),))
    return confirm(home, PAUSE, timeout, lambda: f"created {touch(home, PAUSE)}")


def resume(home: Path, timeout: float, clear_emergency: bool = False) -> Outcome:
    names = files_for(Control.PAUSE)
    if clear_emergency:
        names += files_for(Control.EMERGENCY_STOP)
    paused = PAUSE in in_effect(home)
    gone: list[str] = []

    def act() -> str:
        gone.extend(remove(home, names))
        return f"removed {', '.join(gone)}" if gone else "nothing to remove: not paused"

    return confirm(home, PAUSE, timeout, act, wait=paused and bool(present(home, names)))


def flatten(home: Path, timeout: float) -> Outcome:
    return wait_for_bot(home, touch(home, FLATTEN), timeout, wait_flatten)


def stop(home: Path, timeout: float) -> Outcome:
    return wait_for_bot(home, touch(home, EMERGENCY_STOP), timeout, wait_stop)


def reset(home: Path, timeout: float) -> Outcome:
    return confirm(home, RESET, timeout, lambda: f"created {touch(home, RESET)}")


def adjust(home: Path, values: dict[str, object], timeout: float) -> Outcome:
    """Write controls/ADJUST_RISK as JSON; the bot validates it against the caps (bot/runtime.py)
    and answers APPLIED or REJECTED with the reason."""
    text = json.dumps(values)
    return confirm(home, ADJUST_RISK, timeout, lambda: f"wrote {touch(home, ADJUST_RISK, text)}: {text}")


def parse_adjust(settings: list[str]) -> dict[str, object]:
    """`bot adjust KEY=VALUE ...` as the JSON the bot reads; SteerError on a malformed pair."""
    values: dict[str, object] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SteerError(f"{item!r} is not KEY=VALUE")
        if key in ("allowed_instruments", "allowed_strategies"):
            values[key] = [v for v in raw.split(",") if v] or None
        elif key in ("max_position_usd", "max_session_loss"):
            try:
                values[key] = float(raw) if "." in raw or "e" in raw.lower() else int(raw)
            except ValueError:
                raise SteerError(f"{key}: {raw!r} is not a number") from None
        else:
            values[key] = raw
    return values
