"""The home's layout: every folder and file name the bot and its readers use, in one place.

A home is a folder with `state/` (the journal `bot.db`, the pid file and the JSON state
files), `controls/` (the files an operator creates to steer the bot), `inbox/` (forecasts
and order intents handed to the bot, answered in `inbox/done/`), `logs/` (text and
JSON-lines logs, the session tapes under `logs/tapes/`) and, made on demand, `backtests/`.
Every reader and writer (the CLI, the reading side, the controls, the engine, compare)
takes the names from here, so a name is spelled once; a test fails on any other module
that spells a state or control file name. `SCHEMA_VERSION` is the state files' version
(state/README.md): `newer_schema` is how a reader tells a file it cannot read yet.

Standard library only: `bot status` imports it and must start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# -- folders ----------------------------------------------------------------------------
STATE: Final = "state"
CONTROLS: Final = "controls"
LOGS: Final = "logs"
TAPES: Final = "tapes"  # under logs/
INBOX: Final = "inbox"  # forecasts and order intents dropped for the bot (bot/inbox.py)
BACKTESTS: Final = "backtests"  # the default parent of `bot backtest` and `bot compare` output
FOLDERS: Final = (STATE, CONTROLS, LOGS, INBOX)

# -- state/ -----------------------------------------------------------------------------
STATUS: Final = "status.json"
TRADING_STATE: Final = "trading_state.json"
TRADES_TODAY: Final = "trades_today.json"
RECONCILIATION: Final = "reconciliation.json"
JOURNAL: Final = "bot.db"
LOCK: Final = "bot.lock"
RESERVE: Final = "disk.reserve"  # space kept free for the final state write (bot/storage.py)
ARCHIVE_PREFIX: Final = "archive-"  # `bot run --fresh` moves the old files to state/archive-<time>/
JOURNAL_FILES: Final = (JOURNAL, f"{JOURNAL}-wal", f"{JOURNAL}-shm", f"{JOURNAL}-journal")
SNAPSHOT_FILES: Final = (STATUS, TRADING_STATE, TRADES_TODAY)  # what `bot status` reads
STATE_FILES: Final = (*SNAPSHOT_FILES, RECONCILIATION)

# The state files' schema: it changes when a field changes meaning (new fields may come
# within a version). A reader shows files of this version or older, and refuses newer ones.
SCHEMA_VERSION: Final = 2  # 2: trades_today total_fees includes open positions; no reason is null

# -- controls/ --------------------------------------------------------------------------
PAUSE: Final = "PAUSE"
FLATTEN: Final = "FLATTEN"
EMERGENCY_STOP: Final = "EMERGENCY_STOP"
ADJUST_RISK: Final = "ADJUST_RISK"
RESET: Final = "RESET"
CONTROL_FILES: Final = (PAUSE, FLATTEN, EMERGENCY_STOP, ADJUST_RISK, RESET)
# Older spellings still obeyed, and the name each one means.
CONTROL_ALIASES: Final = {"PAUSE_TRADING": PAUSE, "FLATTEN_ALL": FLATTEN}
CONTROL_SUFFIX: Final = ".txt"  # `PAUSE.txt` is PAUSE (editors on some systems add it)
CONTROLS_IGNORED: Final = frozenset({"README.md", ".gitignore", ".gitkeep"})

# -- inbox/ -----------------------------------------------------------------------------
INBOX_DONE: Final = "done"  # under inbox/: each handled file and its acknowledgement
INBOX_SUFFIX: Final = ".json"  # what the bot reads; a dot-prefixed or .tmp name is not read yet
INBOX_TEMP_SUFFIX: Final = ".tmp"
ACCEPTED_SUFFIX: Final = ".accepted.json"
REJECTED_SUFFIX: Final = ".rejected.json"
INBOX_README: Final = "README.md"  # written into a new home's inbox/ (bot/inbox.py); never read as a file
INBOX_IGNORED: Final = frozenset({INBOX_README, ".gitignore", ".gitkeep", INBOX_DONE})


def ack_name(stem: str, accepted: bool) -> str:
    """inbox/done/STEM.accepted.json or STEM.rejected.json: the bot's answer to inbox/STEM.json."""
    return stem + (ACCEPTED_SUFFIX if accepted else REJECTED_SUFFIX)


# -- logs/ ------------------------------------------------------------------------------
BOT_LOG: Final = "bot.log"
ACTIVITY_LOG: Final = "activity.jsonl"
SIGNALS_LOG: Final = "signals.jsonl"
TRADES_LOG: Final = "trades.jsonl"
ALERTS_LOG: Final = "alerts.jsonl"
DRY_RUN_ORDERS: Final = "dry_run_orders.jsonl"
TAPE_PREFIX: Final = "session-"
TAPE_SUFFIX: Final = ".jsonl.gz"


def tape_name(session_id: int) -> str:
    return f"{TAPE_PREFIX}{session_id}{TAPE_SUFFIX}"


@dataclass(frozen=True)
class Paths:
    """The folders and files of one home."""

    home: Path

    @property
    def state(self) -> Path:
        return self.home / STATE

    @property
    def controls(self) -> Path:
        return self.home / CONTROLS

    @property
    def logs(self) -> Path:
        return self.home / LOGS

    @property
    def tapes(self) -> Path:
        return self.logs / TAPES

    @property
    def inbox(self) -> Path:
        return self.home / INBOX

    @property
    def inbox_done(self) -> Path:
        return self.inbox / INBOX_DONE

    @property
    def backtests(self) -> Path:
        return self.home / BACKTESTS

    @property
    def journal(self) -> Path:
        return self.state / JOURNAL

    @property
    def lock(self) -> Path:
        return self.state / LOCK

    def state_file(self, name: str) -> Path:
        return self.state / name

    def control(self, name: str) -> Path:
        return self.controls / name

    def log(self, name: str) -> Path:
        return self.logs / name

    def tape(self, session_id: int) -> Path:
        return self.tapes / tape_name(session_id)


def schema_major(data: Any) -> int | None:
    """The major schema version a state file says it has (`2`, `"2"`, `"2.1"` -> 2), else None."""
    if not isinstance(data, dict):
        return None
    value = data.get("schema_version")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            return int(str(value).split(".", 1)[0])
        except ValueError:
            return None
    return None


def newer_schema(data: Any) -> int | None:
    """The file's schema version when it is newer than this reader knows, else None."""
    major = schema_major(data)
    return major if major is not None and major > SCHEMA_VERSION else None
