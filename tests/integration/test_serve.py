"""`bot serve`: a read-only page and JSON over real HTTP on 127.0.0.1, and in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import BotProcess, eventually

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def serving(home: Path, *args: str, token: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """The server's URL, and a list that receives what it logged once it has stopped."""
    env = {k: v for k, v in os.environ.items() if k not in ("TOUCHTRADER_HOME", "TOUCHTRADER_SERVE_TOKEN")}
    if token:
        env["TOUCHTRADER_SERVE_TOKEN"] = token
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--home", str(home), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"http://[^ ]+/", line)
        assert match, (line, proc.stderr.read() if proc.stderr else "")
        logs: list[str] = []
        yield match.group(0).replace("0.0.0.0", "127.0.0.1"), logs
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        logs.append(err)


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_page_and_the_json_show_the_running_bot_and_nothing_can_be_written(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    eventually(lambda: bot.trading_state()["active_positions"], timeout=30)
    with serving(bot.home) as (url, _):
        code, body = get(url + "api/status")
        assert code == 200
        api = json.loads(body)
        assert api["liveness"] == "ALIVE"
        assert api["status"]["pid"] == bot.pid
        code, page = get(url)
        assert code == 200
        assert 'class="ALIVE">ALIVE<' in page
        assert "<h2>positions (" in page
        before = sorted(os.listdir(bot.home / "controls"))
        assert get(url, method="POST")[0] == 501
        assert get(url, method="DELETE")[0] == 501
        assert get(url + "controls/PAUSE")[0] == 404
        assert sorted(os.listdir(bot.home / "controls")) == before


def test_a_token_guards_every_request_and_is_never_logged(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    with serving(bot.home, token="s3cret-token") as (url, logs):
        assert get(url)[0] == 401
        assert get(url + "api/status?token=wrong")[0] == 401
        assert get(url + "?token=s3cret-token")[0] == 200
        assert get(url + "api/status", {"Authorization": "Bearer s3cret-token"})[0] == 200
        page = get(url + "?token=s3cret-token")[1]
        assert "url=/?token=s3cret-token" in page  # the reload keeps it
    assert "GET /api/status" in logs[0]
    assert "s3cret" not in logs[0]


def test_another_address_needs_a_token(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    out = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--home", str(bot.home), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "TOUCHTRADER_SERVE_TOKEN"},
    )
    assert out.returncode == 2
    assert "a token is required to listen on 0.0.0.0" in out.stderr
    with serving(bot.home, "--host", "0.0.0.0", token="tok") as (url, _):
        assert get(url)[0] == 401
        assert get(url + "?token=tok")[0] == 200


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_headless_chromium_renders_the_page(bot: BotProcess, tmp_path: Path) -> None:
    bot.start()
    bot.wait_ready()
    eventually(lambda: bot.trading_state()["active_positions"], timeout=30)
    with serving(bot.home, token="tok") as (url, _):
        out = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--dump-dom",
                url + "?token=tok",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    dom = out.stdout
    assert 'id="liveness" class="ALIVE">ALIVE</span>' in dom, (out.returncode, out.stderr[-2000:])
    assert "<h2>positions (" in dom
    assert "<td>" in dom
    assert "recent activity" in dom
