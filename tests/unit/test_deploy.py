"""The systemd unit: restarts after a crash, never into exit 2 (bad config) or 3 (refused)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import EXIT_CONFIG, EXIT_OK, EXIT_REFUSED

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "touchtrader.service"
ALERTS = DEPLOY / "touchtrader-alerts.service"


def _service(unit: Path = UNIT) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return parser["Service"]


def test_the_unit_restarts_on_failure_but_not_past_a_bad_config_or_an_emergency_stop() -> None:
    service = _service()
    assert service["Restart"] == "on-failure"
    assert set(service["RestartPreventExitStatus"].split()) == {str(EXIT_CONFIG), str(EXIT_REFUSED)}
    assert service["SuccessExitStatus"] == str(EXIT_OK)
    assert service["KillSignal"] == "SIGTERM"
    start = service["ExecStart"].split()
    assert start[0].endswith("/bin/bot")
    assert start[1] == "run"
    assert "--home" in start
    home = start[start.index("--home") + 1]
    assert home in service["ReadWritePaths"].split()
    assert service["Environment"] == f"TOUCHTRADER_HOME={home}"


def test_the_alerts_unit_runs_bot_alerts_in_the_same_home() -> None:
    service, bot = _service(ALERTS), _service(UNIT)
    assert service["ExecStart"].split()[1:4] == ["alerts", "--home", bot["ExecStart"].split()[3]]
    assert service["Restart"] == "always"
    assert service["RestartPreventExitStatus"] == str(EXIT_CONFIG)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("source", [UNIT, ALERTS], ids=lambda p: p.name)
def test_systemd_accepts_the_unit(tmp_path: Path, source: Path) -> None:
    bot = Path(sys.executable).parent / "bot"
    unit = tmp_path / source.name
    unit.write_text(source.read_text().replace("/srv/touchtrader/app/.venv/bin/bot", str(bot)))
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    assert not out.stderr.strip(), out
    assert not out.stdout.strip(), out
