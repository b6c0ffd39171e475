"""[alerts]: its settings (secrets refused in bot.toml), what becomes an alert (bot/notify.py),
and the sender (bot/webhooks.py) against a real receiver on 127.0.0.1: payloads, rate limit,
a full queue, masking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import AlertsConfig, ConfigError, load_config
from bot.notify import Alert, Alerts, equity_micros
from bot.testing.webhook_server import WebhookServer, dead_url
from bot.webhooks import Destination, Sender, destinations
from tests.support import eventually


def config_of(tmp_path: Path, text: str) -> AlertsConfig:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return load_config(path).alerts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[alerts.discord]\nurl = "https://discord.com/api/webhooks/1/x"',
            "alerts.discord.url: a webhook URL or token",
        ),
        ('[alerts.telegram]\ntoken = "1:abc"', "alerts.telegram.token: a webhook URL or token is a secret"),
        (
            '[alerts.slack]\nurl_env = "https://hooks.slack.com/x"',
            "alerts.slack.url_env: must name an environment",
        ),
        ('[alerts.telegram]\ntoken_env = "123:abc"\nchat_id = "1"', "alerts.telegram.token_env: must name"),
        ('[alerts.telegram]\ntoken_env = "TG"', "alerts.telegram.chat_id: needed"),
        ('[alerts]\nevents = ["HALTED", "NOPE"]', "alerts.events[1]: 'NOPE' is not an event"),
        ('[alerts]\nsummary_at = "25:00"', "alerts.summary_at: '25:00' is not HH:MM"),
        ("[alerts]\ndrawdown_pct = 100", "alerts.drawdown_pct: must be from 0 to below 100"),
        ("[alerts]\nqueue_size = 0", "alerts.queue_size: must be from 1 to 10000"),
        ("[alerts]\ntimeout_s = 0", "alerts.timeout_s: must be greater than 0"),
        ("[alerts]\nwebhooks = 3", "alerts.webhooks: unknown key"),
    ],
)
def test_a_bad_alerts_setting_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_of(tmp_path, text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert "hooks.slack.com" not in str(caught.value)
    assert "123:abc" not in str(caught.value)


def test_destinations_come_from_the_environment_and_an_unset_one_is_named(tmp_path: Path) -> None:
    cfg = config_of(
        tmp_path,
        '[alerts]\ndiscord.url_env = "D"\nslack.url_env = "S"\n'
        'telegram.token_env = "T"\ntelegram.chat_id = "7"\n',
    )
    found, warnings = destinations(cfg, {"D": "https://discord.example/hook", "T": "9:tok"})
    assert [(d.service, d.host) for d in found] == [
        ("discord", "discord.example"),
        ("telegram", "api.telegram.org"),
    ]
    assert found[1].url == "https://api.telegram.org/bot9:tok/sendMessage"
    assert warnings == ["alerts.slack.url_env names $S, which is not set: no slack alerts"]


def alert(event: str = "HALTED", detail: str = "venue_errors: 3 within 300 s") -> Alert:
    return Alert(event, detail, "2026-12-03T02:00:00.000Z", "PAPER home")


def test_each_service_has_its_payload() -> None:
    a = alert()
    assert Destination("discord", "http://h/d").body(a) == {"content": a.text}
    assert Destination("slack", "http://h/s").body(a) == {"text": a.text}
    tg = Destination("telegram", "http://h/botT/sendMessage", "42", "T").body(a)
    assert tg["chat_id"] == "42"
    assert tg["text"] == a.text
    structured = Destination("json", "http://h/j").body(a)
    assert structured["event"] == "HALTED"
    assert structured["detail"] == a.detail
    assert structured["bot"] == "PAPER home"
    long = alert(detail="x" * 5000)
    assert len(Destination("discord", "http://h/d").body(long)["content"]) == 2000


class Watch:
    """Alerts with a recorded submit and a wall clock the test moves."""

    def __init__(self, **settings: Any) -> None:
        self.sent: list[Alert] = []
        self.wall = 1_764_720_000_000  # 2025-12-03T00:00:00Z
        cfg = AlertsConfig(**{"events": (*AlertsConfig().events, "CONTROL"), **settings})
        self.alerts = Alerts(cfg, "PAPER h", self.submit, dict, wall_ms=lambda: self.wall)

    def submit(self, a: Alert) -> bool:
        self.sent.append(a)
        return True

    def events(self) -> list[str]:
        return [a.event for a in self.sent]


def entry(kind: str, details: str, market: str = "System", **data: Any) -> dict[str, Any]:
    return {"type": kind, "details": details, "market": market, "ts_ms": 0, **data}


def test_activity_entries_become_alerts_and_repeats_are_held_back() -> None:
    w = Watch()
    on = w.alerts.on_activity
    on(entry("ERROR", "HALTED: venue_fills: trade t-1 (fill f) was booked but FAILED on chain; check"))
    on(entry("CONTROL_APPLIED", "EMERGENCY_STOP: 1 orders cancelled", control="EMERGENCY_STOP"))
    on(entry("CONTROL_APPLIED", "PAUSE: no new entries", control="PAUSE"))
    on(entry("ORDER_PLACED", "BUY 5 UP ... (UNKNOWN: not confirmed)", "m-1", status="UNKNOWN", order_id="o"))
    on(entry("ORDER_PLACED", "BUY 5 UP ...", "m-1", status="OPEN", order_id="o2"))
    on(
        entry(
            "RISK_REJECTED",
            "edge BUY UP: market data is stale (last book 12.0 s ago)",
            "m-1",
            limit="stale_feed",
        )
    )
    on(
        entry(
            "RISK_REJECTED",
            "edge BUY UP: market data is stale (last book 13.0 s ago)",
            "m-1",
            limit="stale_feed",
        )
    )
    on(entry("RISK_REJECTED", "edge BUY UP: too big", "m-1", limit="max_position"))
    assert w.events() == [
        "TRADE_FAILED",
        "HALTED",
        "EMERGENCY_STOP",
        "CONTROL",
        "ORDER_UNKNOWN",
        "FEED_STALE",
    ]
    w.wall += 601_000  # past repeat_s: the same stale market is news again
    on(
        entry(
            "RISK_REJECTED",
            "edge BUY UP: market data is stale (last book 14.0 s ago)",
            "m-1",
            limit="stale_feed",
        )
    )
    assert w.events()[-1] == "FEED_STALE"
    assert len(w.sent) == 7


def doc(
    balance: float, *, reason: str = "", day: str = "2025-12-03T00:00:00.000Z", **extra: Any
) -> dict[str, Any]:
    return {
        "mode": "PAPER",
        "trading_state": "ACTIVE",
        "account": {"balance": balance, "daily_pnl": -1.5, "daily_trades": 4, "open_positions": 1},
        "risk": {"reason": reason or None, "session_start": day},
        "active_positions": [{"quantity": 10.0, "entry": 0.5, "unrealized_pnl": -1.0}],
        **extra,
    }


def test_status_gives_the_daily_loss_limit_the_drawdown_and_the_summary() -> None:
    w = Watch(drawdown_pct=10.0, summary_at="00:30")
    w.alerts.observe(doc(100.0))  # equity 100 + 5 - 1 = 104: the peak
    assert equity_micros(doc(100.0)) == 104_000_000
    w.alerts.observe(doc(94.0, reason="daily loss limit reached: lost $20.00 (limit $20.00); resumes"))
    w.alerts.observe(doc(94.0, reason="daily loss limit reached: lost $20.00 (limit $20.00); resumes"))
    assert w.events() == ["DAILY_LOSS_LIMIT"]
    w.alerts.observe(doc(89.0))  # 93 is 10.6% below 104
    w.alerts.observe(doc(88.0))
    assert w.events() == ["DAILY_LOSS_LIMIT", "DRAWDOWN"]
    assert "10.6% below its session peak $104.00" in w.sent[-1].detail
    w.wall += 30 * 60_000  # 00:30 UTC
    w.alerts.observe(doc(88.0))
    w.alerts.observe(doc(88.0))
    assert w.events()[-1] == "DAILY_SUMMARY"
    assert w.events().count("DAILY_SUMMARY") == 1
    assert w.sent[-1].detail == (
        "PAPER balance $88.00, P&L today -$1.50, trades today 4, open positions 1, state ACTIVE"
    )


def test_a_day_end_summary_comes_when_the_trading_day_turns_and_at_the_stop() -> None:
    w = Watch(summary_at="day_end")
    w.alerts.observe(doc(100.0))
    w.alerts.observe(doc(101.0))
    assert w.events() == []
    w.alerts.observe(doc(50.0, day="2025-12-04T00:00:00.000Z"))
    assert w.events() == ["DAILY_SUMMARY"]
    assert "balance $101.00" in w.sent[0].detail
    w.alerts.final(doc(50.0, day="2025-12-04T00:00:00.000Z"))
    assert w.events() == ["DAILY_SUMMARY", "DAILY_SUMMARY"]
    assert w.sent[1].detail.endswith("(the bot stopped)")


def sender(tmp_path: Path, targets: list[Destination], **settings: Any) -> Sender:
    cfg = AlertsConfig(**{"backoff_s": 0.05, "timeout_s": 2.0, **settings})
    return Sender(targets, tmp_path, cfg)


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "alerts.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_over_the_rate_alerts_are_folded_into_a_count_said_in_the_next_message(tmp_path: Path) -> None:
    with WebhookServer() as hooks:
        s = sender(tmp_path, [Destination("slack", hooks.url("/s"))], rate_per_minute=2)
        for i in range(5):
            s.submit(alert(detail=f"n{i}"))
        s.start()
        eventually(lambda: len(lines(tmp_path)) == 5)
        assert [p.body["text"].rsplit(": ", 1)[-1] for p in hooks.received()] == ["n0", "n1"]
        assert s.stats()["folded"] == 3
        assert s.stats()["delivered"] == 2
        s._sent_at["slack"].clear()  # as if the minute had passed
        s.submit(alert(detail="n5"))
        hooks.wait_for(lambda posts: len(posts) == 3)
        assert hooks.received()[2].body["text"].endswith("n5 (+3 more alerts held back by the rate limit)")
        s.stop()
    assert [r["delivered"] for r in lines(tmp_path)] == [True, True, False, False, False, True]


def test_a_full_queue_drops_and_counts_without_waiting(tmp_path: Path) -> None:
    s = sender(tmp_path, [Destination("json", dead_url())], queue_size=2)
    accepted = [s.submit(alert()) for _ in range(5)]  # the thread is not started: nothing leaves
    assert accepted == [True, True, False, False, False]
    assert s.stats()["dropped"] == 3
    assert s.stats()["waiting"] == 2


def test_a_refused_connection_is_tried_again_then_recorded_masked(tmp_path: Path) -> None:
    url = dead_url("/botSECRET-TOKEN/sendMessage")
    s = sender(tmp_path, [Destination("telegram", url, "1", "SECRET-TOKEN")], attempts=3)
    s.submit(alert())
    s.start()
    (row,) = eventually(lambda: lines(tmp_path))
    s.stop()
    assert row["delivered"] is False
    assert row["attempts"] == 3
    assert row["destination"] == "telegram"
    assert "SECRET-TOKEN" not in (tmp_path / "alerts.jsonl").read_text()
    stats = s.stats()
    assert stats["failed"] == 1
    assert stats["retried"] == 2
    assert stats["last_failure"]["error"] == row["error"]
    assert "SECRET" not in json.dumps(stats)


def test_a_book_older_than_stale_feed_s_is_a_stale_feed_once_per_repeat() -> None:
    w = Watch()
    w.alerts.stale_feed_s = 10.0
    feeds = {"m-1": {"age_s": 3.0}, "m-2": {"age_s": 12.5}, "m-3": {"age_s": None}}
    w.alerts.observe(doc(100.0, feeds=feeds))
    w.alerts.observe(doc(100.0, feeds=feeds))
    assert [(a.event, a.market) for a in w.sent] == [("FEED_STALE", "m-2")]
    assert w.sent[0].detail.startswith("last book 12.5 s ago (stale after 10 s)")


def test_the_activity_feed_tells_its_listeners_after_the_commit_and_an_error_at_once(tmp_path: Path) -> None:
    from bot.activity import Activity
    from bot.journal import Journal

    activity = Activity(Journal(":memory:"), tmp_path)
    heard: list[str] = []
    activity.listeners.append(lambda e: heard.append(e["type"]))
    activity.add(1, "ORDER_PLACED", "m-1", "BUY", status="OPEN")
    assert heard == []  # not before the step is committed
    activity.flush()
    assert heard == ["ORDER_PLACED"]
    activity.add(2, "CONTROL_APPLIED", "System", "PAUSE: no new entries", control="PAUSE")
    activity.add(3, "ERROR", "System", "HALTED: disk: no space left; entries stop")
    assert heard == ["ORDER_PLACED", "CONTROL_APPLIED", "ERROR"]  # the disk may hold the commit
    activity.flush()
    assert len(heard) == 3
    activity.close()


def test_alerts_jsonl_rotates_by_size_like_the_other_feeds_without_losing_a_line(tmp_path: Path) -> None:
    with WebhookServer() as hooks:
        cfg = AlertsConfig(backoff_s=0.05, timeout_s=2.0, rate_per_minute=1000)
        s = Sender([Destination("json", hooks.url("/j"))], tmp_path, cfg, rotate_bytes=600, rotate_keep=50)
        s.start()
        for i in range(12):
            s.submit(alert(detail=f"n{i}"))
        hooks.wait_for(lambda posts: len(posts) == 12)
        s.stop()
    files = sorted(tmp_path.glob("alerts.jsonl*"))
    assert len(files) > 2, files
    rows = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    assert sorted(r["detail"] for r in rows) == sorted(f"n{i}" for i in range(12))
    assert all(f.stat().st_size <= 600 for f in files)
