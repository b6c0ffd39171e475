"""`--help` is plain text: nothing lost to markup, defaults shown, no type labels on flags."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from bot.cli import app

ROOT = Path(__file__).resolve().parents[2]


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="bot", terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def test_no_command_help_loses_text_or_shows_typer_labels() -> None:
    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert {"run", "stop", "flatten", "sessions", "trades", "pnl"} <= set(names)
    for name in names:
        text = _help(name)
        assert not re.search(r"<(bool|str|path|float|int|list\[str\])>", text), (name, text)
        assert "--no-" not in text, (name, text)
        assert "{" not in text, (name, text)
        assert "\x1b[" not in text, (name, text)
        assert "╭" not in text, (name, text)
        if "--home" in text:
            assert "TOUCHTRADER_HOME" in text
    run = _help("run")
    assert "see [polymarket])" in run.replace("\n", " ").replace("  ", " ").replace("  ", " ")
    assert "[default: paper]" in run
    assert "--quiet " in run
    assert "[default: 10.0]" in _help("stop")
    assert "[default: 10.0]" in _help("flatten")
    assert "[default: day]" in _help("pnl")
    assert "Usage: bot backtest [OPTIONS] DATA" in _help("backtest")


def test_the_command_list_keeps_each_first_sentence_whole() -> None:
    text = _help()
    assert "..." not in text.split("Commands:")[1]
    assert "whether it can trade (exit 1 if not alive)." in " ".join(text.split())


def test_generated_folders_are_ignored_by_git() -> None:
    paths = ["backtests/x-1/summary.json", "state/bot.db", "logs/tapes/session-1.jsonl.gz", "controls/PAUSE"]
    out = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.split() == paths
    kept = ["state/README.md", "logs/README.md", "controls/README.md"]
    out = subprocess.run(["git", "check-ignore", *kept], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout == ""
