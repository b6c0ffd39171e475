"""The home's layout is named in bot/layout.py only; the readers refuse a newer state schema.

The scans read the source with `ast`, so prose is not code: a docstring or a message that
shows an operator `state/status.json` is text for people (they read the path, nothing opens
it), and only a string that IS a file name, or a folder name joined with `/`, counts.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from bot import layout, reader
from bot.layout import Paths

BOT = Path(__file__).resolve().parents[2] / "bot"

FILE_NAMES = {
    *layout.STATE_FILES,
    *layout.JOURNAL_FILES,
    layout.LOCK,
    layout.RESERVE,
    *layout.CONTROL_FILES,
    *layout.CONTROL_ALIASES,
    layout.BOT_LOG,
    layout.ACTIVITY_LOG,
    layout.SIGNALS_LOG,
    layout.TRADES_LOG,
    layout.ALERTS_LOG,
    layout.DRY_RUN_ORDERS,
}
FOLDER_NAMES = {layout.STATE, layout.CONTROLS, layout.LOGS, layout.TAPES, layout.BACKTESTS, layout.INBOX}


def modules() -> list[Path]:
    # bot/testing/ is the fake venue and its servers: they never touch a home
    return sorted(p for p in BOT.rglob("*.py") if "testing" not in p.relative_to(BOT).parts)


def _spelled(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in FILE_NAMES:
            found.append((node.lineno, node.value))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in FOLDER_NAMES:
                    found.append((side.lineno, f'/ "{side.value}"'))
    return found


def test_only_layout_spells_the_home_s_file_and_folder_names() -> None:
    offenders = []
    for path in modules():
        if path.name == "layout.py" and path.parent == BOT:
            continue
        for line, name in _spelled(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(BOT.parent)}:{line}: {name}")
    assert offenders == [], "use the names in bot/layout.py:\n" + "\n".join(offenders)


def test_the_scan_sees_a_spelled_name() -> None:
    tree = ast.parse('x = home / "state" / "status.json"\nif "PAUSE" in names: pass\n')
    assert sorted(name for _, name in _spelled(tree)) == sorted(['/ "state"', "status.json", "PAUSE"])


def test_paths_name_the_folders() -> None:
    p = Paths(Path("/h"))
    assert (p.state, p.controls, p.logs) == (Path("/h/state"), Path("/h/controls"), Path("/h/logs"))
    assert p.journal == Path("/h/state/bot.db")
    assert p.tape(7) == Path("/h/logs/tapes/session-7.jsonl.gz")


@pytest.mark.parametrize(
    ("version", "newer"),
    [(1, None), (0, None), (None, None), ("2.4", None), (3, 3), ("3.0", 3), (True, None), ("x", None)],
)
def test_newer_schema(version: object, newer: int | None) -> None:
    assert layout.SCHEMA_VERSION == 2
    assert layout.newer_schema({"schema_version": version}) == newer


def _write_state(home: Path, version: int) -> None:
    state = home / "state"
    state.mkdir(parents=True)
    for name in layout.SNAPSHOT_FILES:
        data = {"schema_version": version, "is_alive": False, "reason": "stopped by test", "mode": "PAPER"}
        (state / name).write_text(json.dumps(data))


def test_status_reads_files_of_today_s_schema(tmp_path: Path) -> None:
    _write_state(tmp_path, layout.SCHEMA_VERSION)
    snap = reader.read(tmp_path)
    assert snap.problems == []
    assert snap.liveness == "DEAD"
    assert snap.files[layout.STATUS]["mode"] == "PAPER"


def test_status_says_in_one_line_that_the_files_are_newer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_state(tmp_path, layout.SCHEMA_VERSION + 1)
    snap = reader.read(tmp_path)
    assert all(data is None for data in snap.files.values())  # not misread as today's fields
    assert snap.liveness == "UNKNOWN"
    newer = [p for p in snap.problems if "schema_version" in p]
    assert len(newer) == 1
    assert "\n" not in newer[0]
    assert "status.json" in newer[0]
    assert "trading_state.json" in newer[0]
    assert f"schema_version {layout.SCHEMA_VERSION + 1}" in newer[0]
    assert reader.status_command(tmp_path, as_json=False) == 1
    out = capsys.readouterr().out
    assert "newer" in out
    assert "Traceback" not in out
    assert "mode PAPER" not in out  # nothing of the newer files is shown as if it were today's
