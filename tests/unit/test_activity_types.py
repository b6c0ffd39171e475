"""One list of activity types: `bot.activity.ACTIVITY_TYPES`.

Every type written anywhere under bot/ is in it (found in the source: the type given to
`Activity.add`, and the `kind` of each activity sentence); state/README.md names exactly it,
in its order; the JSON Schemas' `type` enum is exactly it.
"""

from __future__ import annotations

import ast
import re
import textwrap
import typing
from pathlib import Path

import pytest

from bot import schema_files
from bot.activity import ACTIVITY_TYPES
from tests.schema_check import problems

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"


def _outcomes(node: ast.AST) -> set[str]:
    """The strings an expression can be: "A", `"A" if x == "B" else "C"` (A or C), `a or "D"`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _outcomes(node.body) | _outcomes(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_outcomes(v) for v in node.values))
    return set()


def _assigned(function: ast.AST, name: str) -> set[str] | None:
    """The strings assigned to `name` in `function` (`kind = "A" if ok else "B"`), or None."""
    found: set[str] = set()
    seen = False
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            seen = True
            found |= _outcomes(node.value)
    return found if seen else None


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_activity_add(node: ast.AST) -> bool:
    """`X.add(...)` where X is `activity`, `self.activity`, `engine.activity`, ...: the feed."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add"):
        return False
    receiver = node.func.value
    end = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
    return bool(end == "activity")


def written_types(source: str, where: str) -> tuple[dict[str, list[str]], list[str]]:
    """(type -> the places that write it, the places whose type cannot be told) in `source`."""
    tree = ast.parse(source)
    found: dict[str, list[str]] = {}
    unknown: list[str] = []
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]

    def enclosing(node: ast.AST) -> ast.AST:
        inner = [f for f in functions if f.lineno <= node.lineno <= (f.end_lineno or f.lineno)]
        return max(inner, key=lambda f: f.lineno) if inner else tree

    for node in ast.walk(tree):
        place = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "kind":
            if (sentence := _literal(node.value)) is not None:
                found.setdefault(sentence, []).append(place)
            continue
        if not _is_activity_add(node):
            continue
        args = typing.cast(ast.Call, node).args
        kind = args[1] if len(args) > 1 else None
        names = {_literal(kind)} - {None} if kind is not None else set()
        if not names and isinstance(kind, ast.Name):
            names = _assigned(enclosing(node), kind.id) or set()
        for name in names:
            found.setdefault(str(name), []).append(place)
        if not names:
            unknown.append(place)
    return found, unknown


def _every_written_type() -> tuple[dict[str, list[str]], list[str]]:
    found: dict[str, list[str]] = {}
    unknown: list[str] = []
    for path in sorted(BOT.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        types, cannot = written_types(path.read_text("utf-8"), where)
        for kind, places in types.items():
            found.setdefault(kind, []).extend(places)
        unknown += cannot
    return found, unknown


def test_the_list_has_each_type_once_in_the_documented_shape() -> None:
    assert len(set(ACTIVITY_TYPES)) == len(ACTIVITY_TYPES)
    assert all(re.fullmatch(r"[A-Z][A-Z_]*[A-Z]", t) for t in ACTIVITY_TYPES), ACTIVITY_TYPES


def test_every_type_written_under_bot_is_in_the_list() -> None:
    found, unknown = _every_written_type()
    assert not unknown, f"Activity.add with a type the test cannot read (pass a string literal): {unknown}"
    missing = {kind: places for kind, places in found.items() if kind not in ACTIVITY_TYPES}
    assert not missing, (
        f"written but not in bot.activity.ACTIVITY_TYPES (add them there, to state/README.md and"
        f" to the schemas' enum): {missing}"
    )


def test_every_type_in_the_list_is_written_somewhere() -> None:
    found, _ = _every_written_type()
    assert set(ACTIVITY_TYPES) - set(found) == set()


def test_the_scan_sees_literals_sentences_and_assigned_names() -> None:
    """The scan above cannot pass by finding nothing: a planted module shows each form."""
    planted = textwrap.dedent(
        """
        class Planted(Sentence):
            kind: ClassVar[str] = "PLANTED_SENTENCE"

        def step(self, engine, ok):
            self.activity.add(1, "PLANTED_LITERAL", "System", "text")
            engine.activity.add(
                1,
                "PLANTED_SPLIT",
                "System",
                "text",
            )
            kind = "PLANTED_A" if ok == "NOT_A_TYPE" else "PLANTED_B"
            self.activity.add(1, kind, "System", "text")
            self.activity.add(1, compute(), "System", "text")
            self.portfolio.add(1, "NOT_AN_ACTIVITY")
        """
    )
    found, unknown = written_types(planted, "planted.py")
    assert set(found) == {"PLANTED_SENTENCE", "PLANTED_LITERAL", "PLANTED_SPLIT", "PLANTED_A", "PLANTED_B"}
    assert unknown == ["planted.py:15"]


def _readme_types() -> list[str]:
    text = (ROOT / "state" / "README.md").read_text("utf-8")
    start = text.index("Activity `type`s")
    block = text[start : text.index("\n\n", start)]
    names: list[str] = []
    for line in block.splitlines():
        if line.startswith("- "):
            names += re.findall(r"`([A-Z_]+)`", line.split("(")[0])
    return names


def test_state_readme_names_exactly_the_list_in_its_order() -> None:
    assert _readme_types() == list(ACTIVITY_TYPES)


def _type_enums(node: object) -> list[list[str]]:
    """Every activity entry's `type` enum in a schema (an object with type/market/details)."""
    out: list[list[str]] = []
    if isinstance(node, dict):
        props = node.get("properties", {})
        if {"type", "market", "details"} <= set(props):
            out.append(props["type"].get("enum"))
        for value in node.values():
            out += _type_enums(value)
    elif isinstance(node, list):
        for value in node:
            out += _type_enums(value)
    return out


@pytest.mark.parametrize("name", ["status", "trading_state"])
def test_the_schemas_type_enum_is_exactly_the_list(name: str) -> None:
    enums = _type_enums(schema_files.load(name))
    assert enums
    assert all(enum == list(ACTIVITY_TYPES) for enum in enums), enums


def test_a_type_not_in_the_list_fails_the_schema() -> None:
    entry = {"timestamp": "2026-12-03T05:00:00.000Z", "market": "System", "details": "x"}
    errors = {"errors": [{**entry, "type": "NOT_A_TYPE"}]}
    assert any("/errors/0/type" in p for p in problems("status", errors))
    assert not any(
        "/errors/0/type" in p for p in problems("status", {"errors": [{**entry, "type": "ERROR"}]})
    )
