"""Persisted ADJUST_RISK limits are named at start-up, in `bot status`, and by `bot config`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_operator_commands import cli
from tests.support import FAST_CONFIG, BotProcess, activity, eventually

CONFIG = FAST_CONFIG + "\n[risk]\nmax_position_usd = 5\ndaily_loss_limit_usd = 20\n"


def _setting(home: Path, key: str, *args: str) -> dict[str, object]:
    out = cli("config", "--home", str(home), "--json", *args)
    assert out.returncode == 0, out.stderr
    rows = {row["key"]: row for row in json.loads(out.stdout)}
    return rows[key]


def test_a_persisted_limit_is_named_at_start_in_status_and_in_config(tmp_path: Path) -> None:
    before = _setting(tmp_path, "risk.max_position_usd")  # no journal yet: bot.toml is the source
    assert before["source"] == "default"
    assert before["value"] == 5.0
    bot = BotProcess(tmp_path, CONFIG).start()
    try:
        bot.wait_ready()
        out = cli("adjust", "max_position_usd=3", "allowed_instruments=BTC,ETH", "--home", str(tmp_path))
        assert out.returncode == 0, out
    finally:
        bot.stop()
    assert not any(a["type"] == "RUNTIME_LIMITS" for a in activity(tmp_path))  # a first start has none

    again = BotProcess(tmp_path, CONFIG).start()
    try:
        again.wait_ready()
        named = eventually(lambda: [a for a in activity(tmp_path) if a["type"] == "RUNTIME_LIMITS"])
        details = named[0]["details"]
        assert "max_position_usd=3 (bot.toml 5)" in details, details
        assert "allowed_instruments=BTC,ETH" in details, details
        status = cli("status", "--home", str(tmp_path))
        assert status.returncode == 0, status
        assert "overrides: ADJUST_RISK" in status.stdout
        assert "max_position_usd=3 over bot.toml 5 (set 20" in status.stdout, status.stdout
        assert "allowed_instruments=BTC,ETH (set 20" in status.stdout
        as_json = json.loads(cli("status", "--home", str(tmp_path), "--json").stdout)
        row = next(r for r in as_json["overrides"] if r["key"] == "max_position_usd")
        assert row["value"] == "3"
        assert row["configured"] == 5
        assert row["configured_in"] == "bot.toml"
    finally:
        again.stop()

    limit = _setting(tmp_path, "risk.max_position_usd")
    assert limit["value"] == 3.0, limit
    assert limit["source"] == "ADJUST_RISK", limit
    assert "replaces bot.toml 5" in str(limit["detail"])
    assert "set 20" in str(limit["detail"])
    assert _setting(tmp_path, "runtime.allowed_instruments")["value"] == ["BTC", "ETH"]
    assert _setting(tmp_path, "risk.daily_loss_limit_usd")["source"] == "bot.toml"
    assert _setting(tmp_path, "speed", "--speed", "2")["source"] == "command line"
    mode = _setting(tmp_path, "mode")
    assert mode["value"] == "PAPER"
    assert "default for --mode" in str(mode["detail"])
    text = cli("config", "--home", str(tmp_path))
    line = next(x for x in text.stdout.splitlines() if x.startswith("risk.max_position_usd "))
    assert "ADJUST_RISK (set 20" in line, line
    assert "replaces bot.toml 5" in line, line

    # a cap lowered below the persisted value: the start drops it, and bot config says so
    (tmp_path / "bot.toml").write_text(CONFIG.replace("max_position_usd = 5", "max_position_usd = 2"))
    dropped = _setting(tmp_path, "risk.max_position_usd")
    assert dropped["value"] == 2.0
    assert dropped["source"] == "bot.toml"
    assert "max_position_usd=3" in str(dropped["detail"])
    assert "dropped" in str(dropped["detail"])


def test_config_refuses_a_bad_settings_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text("[risk]\nmax_position_usd = -1\n")
    out = cli("config", "--home", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "bot config: risk.max_position_usd: must be greater than 0, got -1.0"
    ], out.stderr
    status = cli("status", "--home", str(tmp_path))  # no journal, no overrides line, no crash
    assert "overrides" not in status.stdout
