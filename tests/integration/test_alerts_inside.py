"""[alerts]: `bot run` in PAPER posts to a real webhook receiver on 127.0.0.1, off the
engine's thread: the payload of each service, a retry after a 500, a dead receiver that never
holds up a control, and secrets that never reach the home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.testing.webhook_server import WebhookServer, dead_url
from tests.schema_check import assert_valid
from tests.support import FAST_CONFIG, BotProcess, eventually

TOKEN = "123456:SECRET-telegram-token-abcdef"
ALERTS = """
[alerts]
events = {events}
backoff_s = 0.1
timeout_s = {timeout}
queue_size = {queue}
discord.url_env = "TT_TEST_DISCORD"
slack.url_env = "TT_TEST_SLACK"
json.url_env = "TT_TEST_JSON"
telegram.token_env = "TT_TEST_TELEGRAM"
telegram.chat_id = "-10042"
telegram.api_url = "{api}"
"""


class AlertedBot(BotProcess):
    """`bot run` with the alert variables in its environment."""

    def __init__(self, home: Path, env: dict[str, str], **alerts: Any) -> None:
        settings = {"events": '["EMERGENCY_STOP", "HALTED"]', "timeout": 2.0, "queue": 100, **alerts}
        super().__init__(home, FAST_CONFIG + ALERTS.format(**settings))
        self.env = env


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


def env_for(hooks: WebhookServer) -> dict[str, str]:
    return {
        "TT_TEST_DISCORD": hooks.url("/discord"),
        "TT_TEST_SLACK": hooks.url("/slack"),
        "TT_TEST_JSON": hooks.url("/json"),
        "TT_TEST_TELEGRAM": TOKEN,
    }


def records(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_emergency_stop_reaches_each_service_in_its_own_format(
    tmp_path: Path, hooks: WebhookServer
) -> None:
    bot = AlertedBot(tmp_path, env_for(hooks), api=hooks.url(""))
    bot.start()
    try:
        bot.wait_ready()
        bot.touch("EMERGENCY_STOP")
        bot.wait_exit(30)
    finally:
        bot.stop()
    by_path = {p.path: p.body for p in hooks.wait_for(lambda posts: len(posts) >= 4)}
    assert set(by_path) == {"/discord", "/slack", "/json", f"/bot{TOKEN}/sendMessage"}
    discord, slack, telegram, structured = (
        by_path["/discord"],
        by_path["/slack"],
        by_path[f"/bot{TOKEN}/sendMessage"],
        by_path["/json"],
    )
    assert set(discord) == {"content"}
    assert "EMERGENCY_STOP" in discord["content"]
    assert set(slack) == {"text"}
    assert slack["text"] == discord["content"]
    assert telegram["chat_id"] == "-10042"
    assert telegram["text"] == discord["content"]
    assert structured["event"] == "EMERGENCY_STOP"
    assert structured["bot"] == f"PAPER {tmp_path.name}"
    assert "orders cancelled" in structured["detail"]
    assert structured["text"] == discord["content"]
    rows = records(tmp_path)
    assert sorted(r["destination"] for r in rows) == ["discord", "json", "slack", "telegram"]
    assert all(r["delivered"] and r["event"] == "EMERGENCY_STOP" and r["attempts"] == 1 for r in rows)
    assert all(r["webhook"] == "127.0.0.1" for r in rows)


def test_a_500_is_tried_again_and_recorded(tmp_path: Path, hooks: WebhookServer) -> None:
    hooks.answers = [500]
    env = {"TT_TEST_JSON": hooks.url("/json")}
    bot = AlertedBot(tmp_path, env, api=hooks.url(""))
    bot.start()
    try:
        bot.wait_ready()
        bot.touch("EMERGENCY_STOP")
        bot.wait_exit(30)
    finally:
        bot.stop()
    posts = hooks.wait_for(lambda posts: len(posts) >= 2)
    assert [p.answered for p in posts] == [500, 200]
    assert posts[0].body == posts[1].body
    (row,) = records(tmp_path)
    assert row["delivered"]
    assert row["attempts"] == 2
    assert row["destination"] == "json"


def test_a_dead_receiver_never_holds_up_a_control(tmp_path: Path, hooks: WebhookServer) -> None:
    """Each control is an alert (CONTROL); the receiver hangs, the queue holds 2: the PAUSEs
    and RESUMEs are each applied, the overflow is counted as dropped, nothing waits."""
    hooks.hang.set()
    env = {"TT_TEST_JSON": hooks.url("/json"), "TT_TEST_SLACK": dead_url("/slack")}
    bot = AlertedBot(tmp_path, env, api=hooks.url(""), events='["CONTROL"]', timeout=30.0, queue=2)
    bot.start()
    try:
        bot.wait_ready()
        for _ in range(4):
            pause = bot.touch("PAUSE")
            eventually(lambda: bot.status()["trading_state"] == "PAUSED")
            pause.unlink()
            eventually(lambda: bot.status()["trading_state"] == "ACTIVE")
        stats = eventually(lambda: (s := bot.status()["alerts"])["dropped"] > 0 and s)
        assert stats["submitted"] + stats["dropped"] >= 8
        assert stats["destinations"] == ["slack", "json"]
        assert stats["delivered"] == 0
        assert_valid("status", bot.status())
    finally:
        bot.stop()


def test_no_secret_reaches_the_home(tmp_path: Path, hooks: WebhookServer) -> None:
    """A token, failing and succeeding deliveries, a stop: not a byte of it in logs/state/db."""
    hooks.answers = [500, 500, 500, 500]  # the first alert fails on every service at least once
    bot = AlertedBot(tmp_path, env_for(hooks), api=hooks.url(""))
    bot.start()
    try:
        bot.wait_ready()
        bot.touch("EMERGENCY_STOP")
        bot.wait_exit(30)
    finally:
        bot.stop()
    rows = records(tmp_path)
    assert [(r["destination"], r["delivered"], r["attempts"]) for r in rows] == [
        ("discord", False, 4),  # four 500s: given up
        ("slack", True, 1),
        ("json", True, 1),
        ("telegram", True, 1),
    ]
    final = json.loads((tmp_path / "state" / "status.json").read_text())
    assert_valid("status", final)
    counts = {k: final["alerts"][k] for k in ("submitted", "delivered", "failed", "retried", "waiting")}
    assert counts == {"submitted": 1, "delivered": 3, "failed": 1, "retried": 3, "waiting": 0}
    assert final["alerts"]["last_failure"]["error"] == "HTTP 500"
    secrets = [TOKEN.encode(), b"SECRET-telegram", hooks.url("/discord").encode()]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in secrets if s in data], f"{path} holds a secret"


def test_doctor_warns_of_an_alerts_variable_that_is_not_set(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text(
        '[alerts]\nslack.url_env = "TT_TEST_UNSET_SLACK"\njson.url_env = "TT_TEST_JSON"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "TT_TEST_UNSET_SLACK"}
    env["TT_TEST_JSON"] = "http://127.0.0.1:9/json"
    out = subprocess.run(
        [sys.executable, "-m", "bot", "doctor", "--home", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    warned = [f for f in json.loads(out.stdout) if f["check"] == "alerts"]
    assert [f["level"] for f in warned] == ["WARN"]
    assert "alerts.slack.url_env names $TT_TEST_UNSET_SLACK, which is not set" in warned[0]["detail"]
    assert out.returncode == 0
