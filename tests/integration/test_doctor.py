"""`bot doctor` on real folders: what it finds, the fix it names, and its exit code."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.doctor import kernel_clock
from tests.support import BotProcess


def doctor(home: Path) -> tuple[int, list[dict[str, str]]]:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "doctor", "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.returncode, json.loads(out.stdout)


def find(findings: list[dict[str, str]], check: str, level: str | None = None) -> list[dict[str, str]]:
    return [f for f in findings if f["check"] == check and (level is None or f["level"] == level)]


def test_a_new_folder_can_become_a_home_and_a_missing_one_fails(tmp_path: Path) -> None:
    code, findings = doctor(tmp_path)
    assert code == 0
    assert "not a bot home yet" in find(findings, "home", "WARN")[0]["detail"]
    assert find(findings, "config", "OK")
    assert find(findings, "disk", "OK")
    code, findings = doctor(tmp_path / "missing")
    assert code == 1
    assert find(findings, "home", "FAIL")[0]["fix"].startswith("mkdir -p")


def test_a_bad_config_fails_and_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text("[risk]\nmax_position_usd = -1\n")
    code, findings = doctor(tmp_path)
    assert code == 1
    assert "max_position_usd" in find(findings, "config", "FAIL")[0]["detail"]
    (tmp_path / "bot.toml").write_text('[strategies]\nenabled = ["nosuch.module:Nothing"]\n')
    code, findings = doctor(tmp_path)
    assert code == 1
    assert find(findings, "config", "FAIL")
    (tmp_path / "bot.toml").write_text('[polymarket]\nseries = ["btc-updown-7m"]\n')
    code, findings = doctor(tmp_path)
    assert code == 1
    assert "unknown timeframe '7m'" in find(findings, "config", "FAIL")[0]["detail"]


def test_a_toml_syntax_error_is_file_line_col_in_run_config_and_doctor(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text("[risk]\nmax_position_usd = = 1\n")
    said = f"{path}:2:{len('max_position_usd = ') + 1}: not valid TOML: Invalid value"
    for command in ("run", "config"):
        out = subprocess.run(
            [sys.executable, "-m", "bot", command, "--home", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2, (command, out.stderr)
        assert out.stderr == f"bot {command}: {said}\n", command
    code, findings = doctor(tmp_path)
    assert code == 1
    assert find(findings, "config", "FAIL")[0]["detail"] == said  # the path once


def test_controls_permissions_and_a_dead_bot_are_reported_with_fixes(tmp_path: Path) -> None:
    for name in ("state", "controls", "logs"):
        (tmp_path / name).mkdir()
    (tmp_path / "controls" / "EMERGENCY_STOP").touch()
    (tmp_path / "controls" / "PAUSE_PLEASE").touch()
    os.chmod(tmp_path / "controls", 0o777)
    status = {"is_alive": True, "pid": 999999, "risk": {"halted": "invariant cash"}}
    (tmp_path / "state" / "status.json").write_text(json.dumps(status))
    code, findings = doctor(tmp_path)
    assert code == 0  # warnings only
    warned = {f["detail"]: f["fix"] for f in findings if f["level"] == "WARN"}
    assert any("refuses to start" in d and "clear-emergency" in fix for d, fix in warned.items())
    assert any("PAUSE_PLEASE is not a control file" in d for d in warned)
    assert any("writable by every user" in d and fix.startswith("chmod o-w") for d, fix in warned.items())
    assert any("died without a final state" in d for d in warned)
    assert any("HALTED: invariant cash" in d and "bot reset" in fix for d, fix in warned.items())


def test_broken_state_files_and_journal_fail(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "trading_state.json").write_text("{not json")
    (tmp_path / "state" / "bot.db").write_bytes(b"this is not a database" * 100)
    code, findings = doctor(tmp_path)
    assert code == 1
    assert find(findings, "state files", "FAIL")
    assert find(findings, "journal", "FAIL")


def test_a_clock_behind_the_journal_fails(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    conn = sqlite3.connect(tmp_path / "state" / "bot.db")
    conn.execute(
        "CREATE TABLE sessions (session_id INTEGER PRIMARY KEY, started_ms INTEGER, stopped_ms INTEGER)"
    )
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO sessions VALUES (1, ?, NULL)", (int(time.time() * 1000) + 3_600_000,))
    conn.commit()
    conn.close()
    code, findings = doctor(tmp_path)
    assert code == 1
    assert "went back" in find(findings, "clock", "FAIL")[0]["detail"]
    kernel = kernel_clock()
    level = find(findings, "clock")[0]["level"]
    assert (kernel is None and level == "WARN") or (
        kernel is not None and level == ("OK" if kernel[0] else "WARN")
    )


def test_a_running_bot_is_named_and_its_journal_checks(bot: BotProcess) -> None:
    bot.start()
    bot.wait_ready()
    code, findings = doctor(bot.home)
    assert code == 0, findings
    assert find(findings, "process", "OK")[0]["detail"] == f"a bot is running: pid {bot.pid}"
    assert "passes quick_check" in find(findings, "journal", "OK")[0]["detail"]
    text = subprocess.run(
        [sys.executable, "-m", "bot", "doctor", "--home", str(bot.home)], capture_output=True, text=True
    ).stdout
    assert text.startswith("bot doctor: ")
    assert "OK    process: a bot is running" in text
