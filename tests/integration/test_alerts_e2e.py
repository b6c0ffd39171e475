"""`bot alerts` beside a real bot, posting to a real webhook server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import BotProcess, eventually


class Sink(ThreadingHTTPServer):
    """Collects the JSON bodies posted to it; answers `status` (200, or 500 to refuse)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler) -> None:
                length = int(handler.headers.get("Content-Length", 0))
                self.bodies.append(json.loads(handler.rfile.read(length)))
                handler.send_response(self.status)
                handler.end_headers()

            def log_message(handler, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def events(self) -> list[str]:
        return [b["event"] for b in self.bodies]


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def records(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "alerts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def start_alerts(home: Path, url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "TOUCHTRADER_HOME"}
    env["TOUCHTRADER_ALERT_WEBHOOKS"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "alerts", "--home", str(home), "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_crash_a_restart_and_a_clean_stop_each_post_once(bot: BotProcess, sink: Sink) -> None:
    bot.start()
    bot.wait_ready()
    url = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    alerts = start_alerts(bot.home, url)
    try:
        bot.kill(signal.SIGKILL)
        eventually(lambda: sink.events() == ["DIED"], timeout=20)
        assert "without writing a final state" in sink.bodies[0]["detail"]
        assert sink.bodies[0]["text"].startswith("touchtrader DIED at ")
        bot.start()
        bot.wait_ready()
        eventually(lambda: sink.events() == ["DIED", "ALIVE"], timeout=20)
        bot.stop()  # SIGTERM: a clean stop
        eventually(lambda: sink.events() == ["DIED", "ALIVE", "STOPPED"], timeout=20)
        assert "SIGTERM" in sink.bodies[-1]["detail"]
        log = eventually(lambda: len(records(bot.home)) == 3 and records(bot.home), timeout=20)
        assert [r["event"] for r in log] == ["DIED", "ALIVE", "STOPPED"]
        assert all(r["delivered"] for r in log)
        assert all(r["webhook"] == "127.0.0.1" for r in log)
    finally:
        alerts.terminate()
        alerts.communicate(timeout=10)


def test_a_refusing_webhook_is_retried_and_recorded(bot: BotProcess, sink: Sink) -> None:
    bot.start()
    bot.wait_ready()
    sink.status = 500
    alerts = start_alerts(bot.home, f"http://127.0.0.1:{sink.server_address[1]}/hook")
    try:
        bot.stop()
        eventually(lambda: len(sink.bodies) == 3, timeout=20)  # three attempts
        record = eventually(lambda: (records(bot.home) or [None])[0], timeout=20)
        assert record["event"] == "STOPPED"
        assert record["delivered"] is False
        assert "500" in record["error"]
        assert alerts.poll() is None  # it keeps watching
    finally:
        alerts.terminate()
        alerts.communicate(timeout=10)


def test_no_webhook_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "status.json").write_text("{}")
    env = {k: v for k, v in os.environ.items() if k != "TOUCHTRADER_ALERT_WEBHOOKS"}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "alerts", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2
    assert "no webhook" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
