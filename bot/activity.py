"""The activity feed and the append-only logs in `logs/`.

Every activity, signal and fill goes to the journal first; the matching JSONL lines wait in
memory until the engine has committed the step, then `flush()` appends them, so no log
line ever shows something the database does not have.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bot.journal import Journal
from bot.logfiles import RotatingLog
from bot.model import iso
from bot.sentences import Sentence

log = logging.getLogger("bot")

# Every activity `type` the bot writes, the one list: state/README.md names it, the JSON
# Schemas' `type` enum is it, and tests/unit/test_activity_types.py finds every type written
# under bot/ (`Activity.add`, a sentence's `kind`) in it.
ACTIVITY_TYPES = (
    "BOT_STARTED",
    "BOT_STOPPED",
    "BALANCE_CHECK",
    "ORDER_PLACED",
    "ORDER_FILLED",
    "ORDER_CANCELLED",
    "ORDER_REJECTED",
    "EXIT_TRIGGERED",
    "POSITION_EXIT",
    "MARKET_RESOLVED",
    "MARKET_CHANGED",
    "CONTROL_APPLIED",
    "CONTROL_REJECTED",
    "RISK_REJECTED",
    "STRATEGY_DISABLED",
    "RUNTIME_LIMITS",
    "REDEMPTION",
    "PRICE_FEED",
    "BOOK_FEED",
    "DISCOVERY",
    "INBOX_ACCEPTED",
    "INBOX_REJECTED",
    "DISK_RECOVERED",
    "ERROR",
)


class Activity:
    def __init__(
        self, journal: Journal, logs_dir: Path | None, keep: int = 50, max_bytes: int = 0, files_kept: int = 5
    ) -> None:
        self.journal = journal
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.errors: deque[dict[str, Any]] = deque(maxlen=5)
        self.added = 0  # entries added in this session: the engine watches it move
        # A running bot's feed is in the order things happened to it: an entry is never dated
        # before the one above it (a venue's trade time has whole seconds, a control's time
        # comes from another clock). Backtests keep the event times as they are.
        self.monotonic = False
        self._last_ts = 0
        self._pending: dict[str, list[bytes]] = {"activity": [], "signals": [], "trades": []}
        self._files: dict[str, RotatingLog] = {}  # rotated by size (bot/logfiles.py)
        self._backlog: dict[str, bytes] = {}  # bytes a refused append left to write
        # told each entry once it is committed (bot/notify.py's alerts); each must not block
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._told: list[dict[str, Any]] = []
        if logs_dir is not None:
            logs_dir.mkdir(parents=True, exist_ok=True)
            for name in self._pending:
                self._files[name] = RotatingLog(logs_dir / f"{name}.jsonl", max_bytes, files_kept)

    def restore(self) -> None:
        for r in self.journal.recent_activity(self.recent.maxlen):
            self.recent.append(_entry(r["ts_ms"], r["type"], r["market"], r["details"]))
        for r in self.journal.recent_errors(5):
            self.errors.append(_entry(r["ts_ms"], r["type"], r["market"], r["details"]))

    def add(self, ts_ms: int, kind: str, market: str, details: str, **data: Any) -> None:
        if self.monotonic:
            ts_ms = self._last_ts = max(ts_ms, self._last_ts)
        self.journal.add_activity(ts_ms, kind, market, details)
        entry = _entry(ts_ms, kind, market, details)
        self.recent.append(entry)
        if kind == "ERROR":
            self.errors.append(entry)
        self._pending["activity"].append(orjson.dumps({**entry, **data}))
        if self.listeners:
            self._told.append({**entry, **data, "ts_ms": ts_ms})
            if kind == "ERROR":  # trouble is told at once: it may be the disk that holds the commit
                self._tell()
        self.added += 1
        level = logging.WARNING if kind in ("ERROR", "CONTROL_REJECTED") else logging.INFO
        log.log(level, "%s %-16s %s %s", entry["timestamp"], kind, market, details)

    def emit(self, ts_ms: int, event: Sentence) -> None:
        """One line of the feed, made from a typed event (bot/sentences.py)."""
        self.add(ts_ms, event.kind, event.market, event.text(), **event.data())

    def signal(self, row: dict[str, Any]) -> None:
        self.journal.add_signal(row)
        self._pending["signals"].append(orjson.dumps(row))

    def trade(self, row: dict[str, Any]) -> None:
        self._pending["trades"].append(orjson.dumps(row))

    def flush(self) -> None:
        """Append what the last commit made durable. A refused append (full disk) raises
        OSError and keeps the bytes not written, for the next flush: no line is lost."""
        pending = self._pending
        if not (
            self._told or self._backlog or pending["activity"] or pending["signals"] or pending["trades"]
        ):
            return  # most steps of a backtest: nothing happened
        error: OSError | None = None
        for name, lines in self._pending.items():
            fh = self._files.get(name)
            if fh is None:
                lines.clear()
                continue
            if not lines and name not in self._backlog:
                continue
            data = self._backlog.pop(name, b"") + (b"\n".join(lines) + b"\n" if lines else b"")
            lines.clear()
            view = memoryview(data)
            try:
                while view:
                    view = view[fh.write(view) or 0 :]
            except OSError as exc:
                self._backlog[name] = bytes(view)
                error = error or OSError(exc.errno, exc.strerror, f"logs/{name}.jsonl")
        self._tell()
        if error is not None:
            raise error

    def _tell(self) -> None:
        """What the last commit made durable, to the listeners (the lines' fate aside); an
        ERROR at once, with what came before it."""
        told, self._told = self._told, []
        for entry in told:
            for listener in self.listeners:
                try:
                    listener(entry)
                except Exception:  # a listener's fault must never stop the engine
                    log.exception("activity listener failed")

    @property
    def backlog(self) -> int:
        """Bytes of log lines waiting for the disk."""
        return sum(len(b) for b in self._backlog.values())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            for fh in self._files.values():
                fh.close()


def _entry(ts_ms: int, kind: str, market: str, details: str) -> dict[str, Any]:
    return {"timestamp": iso(ts_ms), "type": kind, "market": market, "details": details}
