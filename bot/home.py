"""Which folder is the bot's home, is it one, and is a bot running there.

The home is `--home`, else `$TOUCHTRADER_HOME`, else the current folder: the same rule for
every command (`bot run` creates a fresh home where there is none; every other command that
writes a control file or reads the journal refuses a folder that is not a home, so a typo
cannot leave a `controls/EMERGENCY_STOP` where no bot looks).

A folder is a home when it has the journal `state/bot.db` or one of the state files.
A bot runs there when the pid in `state/bot.lock` (or `status.json`) is alive, is a `bot`
process (checked through /proc where there is one), and has not written its final state.

Standard library only: the reading side imports this.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.layout import JOURNAL, SNAPSHOT_FILES, STATUS, Paths

ENV = "TOUCHTRADER_HOME"
STATE_FILES = SNAPSHOT_FILES


class NotAHome(BotError):
    """The folder has neither a journal nor state files; the message says which folder."""


def resolve(option: Path | str | None) -> Path:
    """`--home` if given, else $TOUCHTRADER_HOME, else the current folder."""
    if option is not None and str(option) != "":
        return Path(option)
    env = os.environ.get(ENV, "").strip()
    return Path(env) if env else Path(".")


def is_home(home: Path) -> bool:
    state = Paths(home).state
    return (state / JOURNAL).is_file() or any((state / name).is_file() for name in STATE_FILES)


def require(home: Path) -> Path:
    """`home` if it is a bot home; NotAHome with a one-line message otherwise."""
    if not is_home(home):
        where = home.resolve() if home.exists() else home
        why = "no such folder" if not home.exists() else "no state/bot.db and no state/*.json"
        raise NotAHome(
            f"{where} is not a bot home ({why}); pass --home DIR or set {ENV}"
            " (`bot run --home DIR` creates one)"
        )
    return home


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pid_exists(pid: int) -> bool:
    """The kernel has a process with this pid (it may be another program's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_alive(pid: int) -> bool:
    """A process with this pid runs and /proc does not say it is a zombie or another program."""
    return pid_exists(pid) and _looks_like_bot(pid)


def _looks_like_bot(pid: int) -> bool:
    """False when /proc shows the pid is a zombie or some other program (the pid was reused)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (or no access): trust kill(0)
    if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z":
        return False  # exited, not yet reaped by its parent
    return not cmdline or b"bot" in cmdline  # empty: between fork and exec, or a kernel thread


def lock_pid(home: Path) -> int | None:
    try:
        return int(Paths(home).lock.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Running:
    pid: int | None  # the running bot's pid, or None
    why: str  # one line: "pid 123" or why no bot runs there


def running(home: Path) -> Running:
    """Is a bot running in `home`? Reads files and asks the kernel; takes no lock."""
    status = read_json(Paths(home).state / STATUS) or {}
    status_pid = status.get("pid") if isinstance(status.get("pid"), int) else None
    pid = lock_pid(home) or status_pid
    if pid is None:
        return Running(None, "no bot has run here (no pid in state/bot.lock or state/status.json)")
    if not pid_alive(pid):
        return Running(None, f"the last bot here (pid {pid}) is not running")
    if status_pid == pid and status.get("is_alive") is False:
        return Running(None, f"the bot (pid {pid}) has stopped: {status.get('reason') or 'no reason'}")
    return Running(pid, f"pid {pid}")
