"""Alert events from status.json transitions, and the settings they come from."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts import AlertsError, Seen, deliver, look, settings

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def status(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "is_alive": True,
        "pid": os.getpid(),
        "heartbeat_s": 5,
        "next_update": (NOW + timedelta(seconds=3)).isoformat(),
        "trading_state": "ACTIVE",
        "risk": {"can_trade": True, "halted": None},
        "errors": [],
    }
    base.update(extra)
    return base


def test_each_transition_gives_one_event() -> None:
    seen = Seen()
    assert look(status(), seen, NOW) == []  # healthy at start: nothing to say
    assert look(status(), seen, NOW) == []
    halted = status(trading_state="HALTED", risk={"can_trade": False, "halted": "invariant cash"})
    assert look(halted, seen, NOW) == [("HALTED", "invariant cash")]
    assert look(halted, seen, NOW) == []  # once per reason
    blocked = status(risk={"can_trade": False, "reason": "daily loss limit reached", "halted": None})
    assert look(blocked, seen, NOW) == [("ENTRIES_BLOCKED", "daily loss limit reached")]
    errors = [{"timestamp": "t1", "details": "venue 503"}, {"timestamp": "t0", "details": "HALTED: x"}]
    assert look(status(errors=errors), seen, NOW) == [("ERROR", "t1 venue 503")]
    late = status(next_update=(NOW - timedelta(seconds=60)).isoformat())
    assert [e for e, _ in look(late, seen, NOW)] == ["STALE"]
    assert [e for e, _ in look(status(), seen, NOW)] == ["ALIVE"]
    assert look(status(is_alive=False, reason="EMERGENCY_STOP"), seen, NOW) == [
        ("STOPPED", "stopped: EMERGENCY_STOP")
    ]
    assert [e for e, _ in look(status(pid=999999), Seen(), NOW)] == ["DIED"]


def test_settings_come_from_options_environment_or_alerts_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOUCHTRADER_ALERT_WEBHOOKS", raising=False)
    with pytest.raises(AlertsError, match="no webhook"):
        settings(tmp_path, [], None)
    (tmp_path / "alerts.toml").write_text(
        '[alerts]\nwebhooks = ["https://hooks.example/a"]\nevents = ["DIED"]\n'
    )
    cfg = settings(tmp_path, [], None)
    assert cfg.webhooks == ["https://hooks.example/a"]
    assert cfg.events == {"DIED"}
    monkeypatch.setenv("TOUCHTRADER_ALERT_WEBHOOKS", "http://127.0.0.1:9/x, http://127.0.0.1:9/y")
    assert settings(tmp_path, [], "stopped,died").webhooks == ["http://127.0.0.1:9/x", "http://127.0.0.1:9/y"]
    with pytest.raises(AlertsError, match="unknown event 'NOPE'"):
        settings(tmp_path, [], "NOPE")
    with pytest.raises(AlertsError, match="not an http"):
        settings(tmp_path, ["ftp://x/y"], None)
    (tmp_path / "alerts.toml").write_text("[alerts]\nhooks = []\n")
    with pytest.raises(AlertsError, match=r"alerts\.hooks: unknown key"):
        settings(tmp_path, ["http://x/y"], None)


def test_a_failed_delivery_is_retried_then_recorded_without_the_url(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    cfg = settings(tmp_path, ["http://user:secret@127.0.0.1:9/hook/secret-path"], None)
    calls: list[str] = []

    def refuse(url: str, body: bytes) -> None:
        calls.append(url)
        raise OSError("connection refused")

    assert deliver(tmp_path, cfg, "DIED", "pid 1 gone", refuse) == [False]
    assert len(calls) == 3
    log = (tmp_path / "logs" / "alerts.jsonl").read_text()
    assert '"delivered": false' in log
    assert "127.0.0.1" in log
    assert "secret" not in log
