"""The command line: thin, documented, and a reading side that never loads the engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app

HEAVY = (
    "bot.engine",
    "bot.venues",
    "bot.journal",
    "sqlite_utils",
    "py_clob_client_v2",
    "eth_account",
    "typer",
)


def test_every_command_has_help_text() -> None:
    runner = CliRunner()
    names = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    assert {
        "run",
        "status",
        "pause",
        "resume",
        "flatten",
        "stop",
        "adjust",
        "reset",
        "trades",
        "backtest",
    } <= set(names)
    for command in app.registered_commands:
        assert command.callback is not None, command.name
        assert (command.callback.__doc__ or "").strip(), command.name
        name = command.name or command.callback.__name__
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_status_imports_neither_the_engine_nor_any_venue(tmp_path: Path) -> None:
    probe = (
        "import sys; sys.argv = ['bot', 'status', '--home', sys.argv[1]];"
        " from bot.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_status_of_a_home_without_a_bot_says_so_and_exits_1(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--home", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert '"liveness": "UNKNOWN"' in out.stdout
