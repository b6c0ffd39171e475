"""`bot alerts`: post to webhooks when the bot needs a person, from its state files alone.

A sidecar beside the bot (it never imports the engine and needs no change to the bot): it
reads `state/status.json` every `--interval` seconds and posts one JSON message per event:

    STOPPED          the bot stopped and wrote its final state (the reason: SIGTERM,
                     EMERGENCY_STOP, ...)
    DIED             its pid is gone without a final state (crash, kill -9, OOM)
    STALE            its heartbeat is late (hung, or the machine slept)
    ALIVE            it is alive again after any of the above
    HALTED           the circuit breaker tripped (the reason)
    ENTRIES_BLOCKED  it runs but cannot enter (a session limit such as the daily loss)
    ERROR            a new entry in status.json's errors

On start, a condition already present (a DEAD bot, HALTED) is reported once. Where to post:
`--webhook URL` (repeatable), or `$TOUCHTRADER_ALERT_WEBHOOKS` (comma-separated; URLs often
hold a secret, so the environment keeps them out of `ps`), or `webhooks` in the `[alerts]`
table of `HOME/alerts.toml` (with `events = [...]` to choose). The message is
`{"text", "content", "event", "home", "time", "detail"}`: `text` suits Slack and Mattermost,
`content` Discord. Each delivery is retried 3 times and recorded in `logs/alerts.jsonl`
(the host only, never the URL). Standard library only.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot import reader
from bot.errors import BotError
from bot.layout import ALERTS_LOG, STATUS, Paths

EVENTS = ("STOPPED", "DIED", "STALE", "ALIVE", "HALTED", "ENTRIES_BLOCKED", "ERROR")
ENV = "TOUCHTRADER_ALERT_WEBHOOKS"
ATTEMPTS = 3
TIMEOUT_S = 5.0


class AlertsError(BotError):
    """Bad alert settings; the message is one line."""


@dataclass
class Settings:
    webhooks: list[str]
    events: set[str] = field(default_factory=lambda: set(EVENTS))


def settings(home: Path, webhooks: list[str], events: str | None) -> Settings:
    table: dict[str, Any] = {}
    path = home / "alerts.toml"
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("alerts", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise AlertsError(f"{path}: not valid TOML: {exc}") from None
        unknown = set(table) - {"webhooks", "events"}
        if unknown:
            raise AlertsError(f"{path}: alerts.{sorted(unknown)[0]}: unknown key (known: events, webhooks)")
    urls = webhooks or [u.strip() for u in os.environ.get(ENV, "").split(",") if u.strip()]
    urls = urls or list(table.get("webhooks") or [])
    if not urls:
        raise AlertsError(f"no webhook: --webhook URL, ${ENV}, or webhooks in {path} [alerts]")
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise AlertsError(f"webhook {_host(url)!r}: not an http(s) URL")
    chosen = [e.strip().upper() for e in events.split(",")] if events else table.get("events") or list(EVENTS)
    bad = [e for e in chosen if e not in EVENTS]
    if bad:
        raise AlertsError(f"unknown event {bad[0]!r} (known: {', '.join(EVENTS)})")
    return Settings(urls, set(chosen))


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url.split("/")[0][:40]


@dataclass
class Seen:
    """What the last look found; events are the differences."""

    condition: str = ""  # ALIVE, STOPPED, DIED, STALE or UNKNOWN
    halted: str = ""
    blocked: str = ""
    errors: set[tuple[str, str]] = field(default_factory=set)


def look(status: dict[str, Any] | None, seen: Seen, now: datetime | None = None) -> list[tuple[str, str]]:
    """Events between `seen` and `status` (updates `seen`): [(event, detail)]."""
    events: list[tuple[str, str]] = []
    liveness, why = reader.judge(status, now)
    if liveness == "DEAD":
        condition = "STOPPED" if (status or {}).get("is_alive") is False else "DIED"
    else:
        condition = liveness
    if condition != seen.condition:
        if condition in ("STOPPED", "DIED", "STALE"):
            events.append((condition, why))
        elif condition == "ALIVE" and seen.condition in ("STOPPED", "DIED", "STALE"):
            events.append(("ALIVE", f"alive again ({why})"))
        seen.condition = condition
    status = status or {}
    risk = status.get("risk") or {}
    halted = str(risk.get("halted") or "")
    if halted and halted != seen.halted:
        events.append(("HALTED", halted))
    seen.halted = halted
    blocked = ""
    if condition == "ALIVE" and status.get("trading_state") == "ACTIVE" and not risk.get("can_trade", True):
        blocked = str(risk.get("reason") or "entries blocked")
    if blocked and blocked != seen.blocked:
        events.append(("ENTRIES_BLOCKED", blocked))
    seen.blocked = blocked
    errors = {(str(e.get("timestamp")), str(e.get("details"))) for e in status.get("errors") or []}
    for stamp, details in sorted(errors - seen.errors):
        if not details.startswith("HALTED"):  # HALTED has its own event
            events.append(("ERROR", f"{stamp} {details}"))
    seen.errors |= errors
    return events


Post = Callable[[str, bytes], None]


def post(url: str, body: bytes) -> None:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "touchtrader"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        response.read()


def deliver(home: Path, config: Settings, event: str, detail: str, send: Post = post) -> list[bool]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    text = f"touchtrader {event} at {home}: {detail}"
    body = json.dumps(
        {"text": text, "content": text, "event": event, "home": str(home), "time": stamp, "detail": detail}
    ).encode()
    results = []
    for url in config.webhooks:
        ok, error = False, ""
        for attempt in range(ATTEMPTS):
            try:
                send(url, body)
                ok = True
                break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                error = str(getattr(exc, "reason", None) or exc)
                if isinstance(exc, urllib.error.HTTPError):
                    error = f"HTTP {exc.code} {exc.reason}"
                if attempt + 1 < ATTEMPTS:
                    time.sleep(0.5 * 2**attempt)
        results.append(ok)
        record = {"time": stamp, "event": event, "detail": detail, "webhook": _host(url), "delivered": ok}
        if not ok:
            record["error"] = error
        with open(Paths(home).logs / ALERTS_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return results


def run(home: Path, config: Settings, interval_s: float, send: Post = post) -> int:
    """Look every `interval_s` until interrupted; returns 0."""
    Paths(home).logs.mkdir(exist_ok=True)
    seen = Seen()
    try:
        while True:
            status = reader.read(home).files.get(STATUS)
            for event, detail in look(status, seen):
                if event in config.events:
                    delivered = deliver(home, config, event, detail, send)
                    print(f"{event}: {detail} ({sum(delivered)}/{len(delivered)} webhooks)", flush=True)
            time.sleep(interval_s)
    except KeyboardInterrupt:
        return 0
