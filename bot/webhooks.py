"""Posting alerts to Discord, Slack, Telegram and plain-JSON webhooks, off the engine's thread.

`Sender.submit(alert)` only puts the alert on a bounded queue (`queue_size`): when it is full
the alert is dropped and counted, never waited for. The sender's own thread posts each alert
to each destination through one httpx client: a connection error, a timeout, 429 or 5xx is
tried again after `backoff_s`, doubled each time, up to `attempts` in all; another 4xx is
final. Each destination takes at most `rate_per_minute` alerts a minute; the excess is
folded into a count, said in the next message that goes out ("+3 more held back").

Every delivery, failure and fold is one line of `logs/alerts.jsonl` (append-only, written by
this thread: the journal belongs to the engine's thread), with the destination's name and
host, never its URL or token. Secrets come from the environment variables that `[alerts]`
names; any text recorded or logged has them masked.

Payloads: Discord `{"content"}`, Slack `{"text"}`, Telegram `sendMessage {"chat_id", "text"}`,
JSON the structured event (bot/notify.py `Alert.as_json`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bot.config import AlertsConfig
from bot.layout import ALERTS_LOG
from bot.logfiles import RotatingLog
from bot.notify import Alert

log = logging.getLogger("bot")
SERVICES = ("discord", "slack", "telegram", "json")
MAX_BACKOFF_S = 30.0
LIMITS = {"discord": 2000, "slack": 3000, "telegram": 4096}  # characters a message may hold
for _name in ("httpx", "httpcore"):  # their INFO lines carry the URL, and the URL a secret
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Destination:
    service: str  # discord, slack, telegram or json
    url: str  # a secret: never written anywhere
    chat_id: str = ""
    secret: str = ""  # what to mask besides the URL (the Telegram token)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"

    def body(self, alert: Alert, note: str = "") -> dict[str, Any]:
        text = alert.text + note
        limit = LIMITS.get(self.service)
        if limit is not None and len(text) > limit:
            text = text[: limit - 1] + "…"
        if self.service == "discord":
            return {"content": text}
        if self.service == "slack":
            return {"text": text}
        if self.service == "telegram":
            return {"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True}
        return {**alert.as_json(), "text": text}

    def mask(self, text: str) -> str:
        for secret in (self.url, self.secret):
            if secret:
                text = text.replace(secret, "***")
        return text


def destinations(config: AlertsConfig, environ: Mapping[str, str]) -> tuple[list[Destination], list[str]]:
    """The destinations whose variable is set, and a warning for each one that is not."""
    found, warnings = [], []
    for key, env in config.variables():
        value = environ.get(env, "").strip()
        service = key.split(".")[1]
        if not value:
            warnings.append(f"{key} names ${env}, which is not set: no {service} alerts")
            continue
        if service == "telegram":
            base = config.telegram.api_url.rstrip("/")
            url = f"{base}/bot{value}/sendMessage"
            found.append(Destination(service, url, config.telegram.chat_id, secret=value))
        elif urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            warnings.append(f"{key}: ${env} does not hold an http(s) URL: no {service} alerts")
        else:
            found.append(Destination(service, value))
    return found, warnings


class Sender:
    """The queue and the thread that empties it. `stats()` may be called from any thread."""

    def __init__(
        self,
        targets: list[Destination],
        logs_dir: Path,
        config: AlertsConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rotate_bytes: int = 0,
        rotate_keep: int = 5,
    ) -> None:
        self.targets = targets
        self.path = logs_dir / ALERTS_LOG
        self._log_args = (rotate_bytes, rotate_keep)
        self._log: RotatingLog | None = None  # opened at the first line, rotated by size like the other feeds
        self.config = config
        self.clock = clock
        self.queue: queue.Queue[Alert] = queue.Queue(maxsize=config.queue_size)
        self.client = httpx.Client(
            timeout=config.timeout_s,
            follow_redirects=False,
            headers={"User-Agent": "touchtrader"},
            transport=transport,
        )
        self._lock = threading.Lock()
        self._counts = {"submitted": 0, "delivered": 0, "failed": 0, "retried": 0, "dropped": 0, "folded": 0}
        self._last_failure: dict[str, Any] | None = None
        self._sent_at: dict[str, deque[float]] = {t.service: deque() for t in targets}
        self._held_back: dict[str, int] = dict.fromkeys(self._sent_at, 0)
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    # -- the engine's side --------------------------------------------------------------

    def submit(self, alert: Alert) -> bool:
        """Queue `alert` without waiting; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            with self._lock:
                self._counts["dropped"] += 1
            return False
        with self._lock:
            self._counts["submitted"] += 1
        return True

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self._counts,
                "waiting": self.queue.qsize(),
                "destinations": [t.service for t in self.targets],
                "last_failure": self._last_failure,
            }

    # -- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, drain_s: float = 5.0) -> None:
        """Post what is queued for up to `drain_s` (an EMERGENCY_STOP's alert goes out), then
        end. Once only: a second call returns at once."""
        if self._stopping.is_set():
            return
        self._deadline = self.clock() + drain_s
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(drain_s + 0.5)  # a hung receiver: the daemon thread ends with us
        self.client.close()
        if self._log is not None and not self._thread.is_alive():
            self._log.close()

    def _run(self) -> None:
        while True:
            try:
                alert = self.queue.get(timeout=0.2)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            for target in self.targets:
                try:
                    self._deliver(target, alert)
                except Exception as exc:  # never let one alert end the thread
                    log.warning("alert %s to %s: %s", alert.event, target.service, target.mask(repr(exc)))
            if self._stopping.is_set() and self.clock() >= self._deadline:
                return

    def _deliver(self, target: Destination, alert: Alert) -> None:
        note = self._admit(target.service)
        if note is None:
            self._record(target, alert, delivered=False, attempts=0, error="rate limit: folded into a count")
            return
        body = orjson.dumps(target.body(alert, note))
        error, attempt, wait = "", 0, self.config.backoff_s
        while attempt < self.config.attempts:
            attempt += 1
            error, retry = self._post(target, body)
            if not error:
                self._record(target, alert, delivered=True, attempts=attempt)
                return
            if not retry or attempt >= self.config.attempts or not self._pause(wait):
                break
            with self._lock:
                self._counts["retried"] += 1
            wait = min(wait * 2, MAX_BACKOFF_S)
        self._record(target, alert, delivered=False, attempts=attempt, error=error)

    def _post(self, target: Destination, body: bytes) -> tuple[str, bool]:
        """("", _) when delivered, else (what went wrong, masked; whether to try again)."""
        try:
            response = self.client.post(
                target.url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            return target.mask(f"{type(exc).__name__}: {exc}"), True
        code = response.status_code
        if 200 <= code < 300:
            return "", False
        return f"HTTP {code}", code == 429 or code >= 500

    def _pause(self, seconds: float) -> bool:
        """Wait before the next attempt; False when stopping leaves no time for it."""
        if self._stopping.is_set():
            seconds = min(seconds, self._deadline - self.clock())
            if seconds <= 0:
                return False
        if self._stopping.wait(seconds) and seconds > 0:  # woken by stop(): the drain's deadline
            remaining = min(seconds, self._deadline - self.clock())
            if remaining <= 0:
                return False
            time.sleep(remaining)
        return True

    def _admit(self, service: str) -> str | None:
        """The note to add ("" or the count held back), or None: over the rate, fold it."""
        now = self.clock()
        sent = self._sent_at[service]
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        if len(sent) >= self.config.rate_per_minute:
            self._held_back[service] += 1
            with self._lock:
                self._counts["folded"] += 1
            return None
        sent.append(now)
        held, self._held_back[service] = self._held_back[service], 0
        return f" (+{held} more alerts held back by the rate limit)" if held else ""

    def _record(
        self, target: Destination, alert: Alert, *, delivered: bool, attempts: int, error: str = ""
    ) -> None:
        row: dict[str, Any] = {
            "time": alert.time,
            "source": "bot",
            "event": alert.event,
            "detail": target.mask(alert.detail),
            "destination": target.service,
            "webhook": target.host,
            "delivered": delivered,
            "attempts": attempts,
        }
        if error:
            row["error"] = error
        with self._lock:
            if delivered:
                self._counts["delivered"] += 1
            elif attempts:  # a fold (attempts 0) is counted by _admit
                self._counts["failed"] += 1
                self._last_failure = {k: row[k] for k in ("time", "event", "destination", "webhook", "error")}
        if not delivered and attempts:
            log.warning(
                "alert %s to %s (%s) failed after %d tries: %s",
                alert.event,
                target.service,
                target.host,
                attempts,
                error,
            )
        with contextlib.suppress(OSError):  # a full disk must not end the sender
            if self._log is None:
                self._log = RotatingLog(self.path, *self._log_args)
            self._log.write(orjson.dumps(row) + b"\n")
