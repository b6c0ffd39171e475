"""Did a running bot see the control file? `bot flatten` and `bot stop` wait for the answer.

The bot acknowledges a control in its state files within milliseconds (controls/README.md):

- FLATTEN: `status.json` shows `trading_state` FLATTENING, or the bot has already finished
  and removed the file (`controls.last` in `trading_state.json` says what it did);
- EMERGENCY_STOP: `status.json` shows `risk.emergency_stop` true, then `is_alive` false once
  the final state is written and the process exits.

Exit codes of the commands that wait (documented in README.md):
    0  a running bot acknowledged the file
    1  `bot flatten`, `bot stop`: no bot is running in that home: the file stays and acts
       when one starts (EMERGENCY_STOP keeps it from starting at all). `bot pause`,
       `resume`, `reset` and `adjust` exit 0 then, with a note (a bot may be started paused)
    2  not a bot home (nothing written), or the bot REJECTED the control (ADJUST_RISK)
    4  a bot is running but did not acknowledge within --timeout (hung, or busy)

PAUSE, its removal, RESET and ADJUST_RISK are confirmed by the row the bot adds to the
journal's `controls` table (read-only sqlite3), which also says APPLIED or REJECTED and why.

Standard library only; reads files, never the journal library or the engine.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot import queries
from bot.home import pid_alive, read_json
from bot.layout import EMERGENCY_STOP, FLATTEN, STATUS, TRADING_STATE, Paths

EXIT_ACKNOWLEDGED = 0
EXIT_NOT_RUNNING = 1
EXIT_NO_ACK = 4
POLL_S = 0.05
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    code: int
    message: str


def _files(home: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = Paths(home).state
    return read_json(state / STATUS) or {}, read_json(state / TRADING_STATE) or {}


def _last(trading: dict[str, Any], control: str) -> dict[str, Any] | None:
    last = (trading.get("controls") or {}).get("last") or None
    return last if last and last.get("control") == control else None


def wait_flatten(home: Path, pid: int, control_file: Path, timeout_s: float) -> Answer:
    deadline = time.monotonic() + timeout_s
    while True:
        status, trading = _files(home)
        if not control_file.exists():  # only the bot (or an operator) removes it
            last = _last(trading, FLATTEN)
            done = f": {last['reason']}" if last else ""
            return Answer(EXIT_ACKNOWLEDGED, f"FLATTEN done by the bot (pid {pid}){done}")
        if status.get("pid") == pid and status.get("trading_state") == "FLATTENING":
            stats = trading.get("stats") or {}
            left = (
                f"{stats.get('total_active_positions', '?')} positions and"
                f" {stats.get('total_open_orders', '?')} orders left"
            )
            return Answer(
                EXIT_ACKNOWLEDGED,
                f"FLATTEN acknowledged by the bot (pid {pid}): flattening, {left};"
                " `bot status` shows when it is done (trading then resumes unless PAUSE exists)",
            )
        if not pid_alive(pid):
            return Answer(EXIT_NO_ACK, f"the bot (pid {pid}) exited before acknowledging FLATTEN")
        if time.monotonic() >= deadline:
            return Answer(
                EXIT_NO_ACK,
                f"the bot (pid {pid}) did not acknowledge FLATTEN within {timeout_s:g} s;"
                f" {control_file} stays: check `bot status` and logs/bot.log",
            )
        time.sleep(POLL_S)


def wait_stop(home: Path, pid: int, control_file: Path, timeout_s: float) -> Answer:
    deadline = time.monotonic() + timeout_s
    seen = False
    while True:
        status, trading = _files(home)
        ours = status.get("pid") == pid
        if ours and (status.get("risk") or {}).get("emergency_stop"):
            seen = True
        exited = (ours and status.get("is_alive") is False) or not pid_alive(pid)
        if seen and exited:
            last = _last(trading, EMERGENCY_STOP)
            detail = f": {last['reason']}" if last else ""
            return Answer(
                EXIT_ACKNOWLEDGED,
                f"EMERGENCY_STOP acknowledged; the bot (pid {pid}) has stopped{detail}."
                f" It will not start again until {control_file} is removed",
            )
        if not seen and not pid_alive(pid):
            return Answer(EXIT_NO_ACK, f"the bot (pid {pid}) exited without acknowledging EMERGENCY_STOP")
        if time.monotonic() >= deadline:
            if seen:
                return Answer(
                    EXIT_ACKNOWLEDGED,
                    f"EMERGENCY_STOP acknowledged by the bot (pid {pid}); it is still writing its"
                    " final state and exiting (see `bot status`)",
                )
            return Answer(
                EXIT_NO_ACK,
                f"the bot (pid {pid}) did not acknowledge EMERGENCY_STOP within {timeout_s:g} s;"
                f" {control_file} stays: check `bot status`, then stop the process (kill {pid})",
            )
        time.sleep(POLL_S)


# -- PAUSE, RESUME, RESET, ADJUST_RISK: the journal's `controls` table records each answer --

EXIT_REJECTED = 2


def last_control_id(home: Path) -> int:
    """The newest row of the journal's controls table (0 when none or no journal)."""
    return _ask(home, queries.last_control_id) or 0


def _ask(home: Path, question: Callable[[sqlite3.Connection], T]) -> T | None:
    """`question` asked of the journal read-only; None when there is none or it cannot be read."""
    path = Paths(home).journal
    if not path.is_file():
        return None
    try:
        conn = queries.open_readonly(path, timeout=1)
        try:
            return question(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def wait_recorded(home: Path, pid: int, control: str, after_id: int, timeout_s: float) -> Answer:
    """Wait for the bot to record `control` (APPLIED or REJECTED) in a row after `after_id`."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = _ask(home, lambda conn: queries.control_answer(conn, after_id, control))
        if row:
            result, reason, file = row
            code = EXIT_ACKNOWLEDGED if result == "APPLIED" else EXIT_REJECTED
            return Answer(code, f"{file} {result} by the bot (pid {pid}): {reason}")
        if not pid_alive(pid):
            return Answer(EXIT_NO_ACK, f"the bot (pid {pid}) exited before answering {control}")
        if time.monotonic() >= deadline:
            return Answer(
                EXIT_NO_ACK,
                f"the bot (pid {pid}) did not answer {control} within {timeout_s:g} s;"
                " check `bot status` and logs/bot.log",
            )
        time.sleep(POLL_S)


def in_effect(home: Path) -> list[str]:
    trading = read_json(Paths(home).state / TRADING_STATE) or {}
    return list((trading.get("controls") or {}).get("in_effect") or [])
