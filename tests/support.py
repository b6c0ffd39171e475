"""Helpers shared by the tests: polling with a deadline, and the bot as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# A small, fast market: 30-second windows, one sample per market second, 40x real time,
# so a window lasts 0.75 s of wall time and a test sees fills and settlements quickly.
FAST_CONFIG = """
heartbeat_s = 0.5
state_refresh_s = 0.2
speed = 40

[market]
window_s = 30
tick_s = 1.0

[strategies.params.canary]
seconds_before_end = 15
ttl_s = 5

[strategies.params.edge]
min_edge = 0.04
min_seconds_left = 5
ttl_s = 5
"""


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Return the first truthy result of `check()`, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last_error!r})")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class BotProcess:
    """`bot run` in a temporary home, driven only through its files."""

    def __init__(self, home: Path, config: str | None = FAST_CONFIG, *extra: str) -> None:
        """`config`: the bot.toml to write (None: the home has one); `extra`: more arguments."""
        self.home = home
        if config is not None:
            (home / "bot.toml").write_text(config)
        self.extra = list(extra)
        self.env: dict[str, str] = {}  # added to the bot's environment
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> BotProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--home", str(self.home), "--quiet", *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(self.env),
        )
        return self

    def wait_ready(self, timeout: float = 15.0) -> dict[str, Any]:
        pid = self.pid

        def ready() -> dict[str, Any] | None:
            if self.proc is not None and self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise RuntimeError(f"bot exited early ({self.proc.returncode}): {err or out}")
            status = self.status()
            return status if status.get("pid") == pid and status.get("is_alive") else None

        return eventually(ready, timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def status(self) -> dict[str, Any]:
        return read_json(self.home / "state" / "status.json")

    def trading_state(self) -> dict[str, Any]:
        return read_json(self.home / "state" / "trading_state.json")

    def touch(self, name: str, text: str = "") -> Path:
        path = self.home / "controls" / name
        path.write_text(text)
        return path

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)

    def wait_exit(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The tests' environment without any POLYMARKET_ variable (a developer's real keys never
    reach a test's bot), with `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMARKET_")}
    return {**env, **extra, "PYTHONUNBUFFERED": "1"}


def activity(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "activity.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
