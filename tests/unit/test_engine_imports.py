"""The engine is no one's context (issue 11): the parts it drives do not import it, and no
module imports the engine except the wiring. Read from the source (AST), every import
counted, those under `if TYPE_CHECKING:` and inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"

# the parts the engine drives: they are given what they act on, never the engine
PARTS = ("breaker", "supervisor", "state", "statefiles", "guard", "describe", "orders", "risk", "live")
# the wiring builds the engine; the higher layers run it
WIRING = {"bot.app", "bot.backtest", "bot.wiring"}
# the layers above the engine: no part imports them either
ABOVE = ("bot.engine", "bot.wiring", "bot.app", "bot.backtest")


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in the file."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            found.append((node.module, names))
            # `from bot import engine` names the module too
            found += [(f"{node.module}.{name}", []) for name in names]
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("part", PARTS)
def test_a_part_the_engine_drives_imports_neither_the_engine_nor_the_wiring(part: str) -> None:
    above = [m for m, _ in imports(BOT / f"{part}.py") if m in ABOVE]
    assert above == [], f"bot/{part}.py imports {above}"


def test_only_the_wiring_imports_the_engine() -> None:
    """Elsewhere only `Paths` may come from bot.engine, until it moves to its own module."""
    offenders = []
    for path in sorted(BOT.rglob("*.py")):
        name = module_name(path)
        if name in WIRING or name == "bot.engine":
            continue
        for module, names in imports(path):
            if module == "bot.engine" and set(names) - {"Paths"}:
                offenders.append(f"{name}: {sorted(set(names) - {'Paths'})}")
    assert offenders == []


def test_the_check_sees_an_import_under_type_checking(tmp_path: Path) -> None:
    """The AST walk counts what the old modules did: an import under TYPE_CHECKING."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.engine import Engine\n"
        "def f():\n    from bot import app\n"
    )
    found = {m for m, _ in imports(sample)}
    assert {"bot.engine", "bot.app"} <= found
