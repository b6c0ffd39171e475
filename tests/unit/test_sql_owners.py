"""The journal owns its SQL: only bot/journal.py (with bot/journal_restore.py, the engine's reads and writes),
bot/queries.py (the reading side, standard library only) and bot/schema.py (the DDL) hold
SQL statements; everyone else calls their named functions.

The scan reads string literals with `ast` (implicitly joined pieces are one literal; the
literal parts of an f-string are joined), and matches statement shapes, not bare words:
`"DELETE"` as an HTTP method is not SQL, `DELETE FROM` is. Docstrings are prose for a
reader (bot/doctor.py says it runs `PRAGMA quick_check`) and are not scanned.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
OWNERS = {"journal.py", "journal_restore.py", "queries.py", "schema.py"}
# bot/breaker.py is being reshaped on another branch (wt-core: "the breaker's checks take
# what they check"); its two reads move to the journal with that change, not under it.
PENDING = {"breaker.py"}

SQL = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bPRAGMA\s+\w+|\b(?:CREATE|DROP|ALTER)\s+(?:TABLE|VIEW|INDEX|TRIGGER)\b",
    re.DOTALL,
)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    parts |= {id(doc) for doc in _docstrings(tree)}  # prose: `PRAGMA quick_check` named for a reader
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            found.append((node.lineno, node.value))
    return found


def _docstrings(tree: ast.AST) -> list[ast.AST]:
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.append(first.value)
    return docs


def sql_in(source: str) -> list[tuple[int, str]]:
    return [(line, text) for line, text in _strings(ast.parse(source)) if SQL.search(text)]


def test_only_the_journal_and_the_queries_hold_sql() -> None:
    offenders = []
    for path in sorted(BOT.rglob("*.py")):
        rel = path.relative_to(BOT)
        if rel.parts[0] == "testing" or (len(rel.parts) == 1 and rel.name in OWNERS | PENDING):
            continue
        for line, text in sql_in(path.read_text(encoding="utf-8")):
            offenders.append(f"bot/{rel}:{line}: {' '.join(text.split())[:80]}")
    assert offenders == [], "move these behind bot/journal.py or bot/queries.py:\n" + "\n".join(offenders)


def test_the_scan_sees_sql_and_not_http() -> None:
    source = (
        'a = "SELECT COUNT(*) FROM fills"\n'
        'b = ("INSERT OR REPLACE INTO meta"\n     " VALUES (?, ?)")\n'
        'c = f"UPDATE sessions SET stopped_ms={x}"\n'
        'd = "PRAGMA quick_check"\n'
        'e = call("DELETE", "/order")\n'
        'f = "select a seat"\n'
        'def g():\n    """Runs PRAGMA quick_check."""\n'
    )
    assert sorted(line for line, _ in sql_in(source)) == [1, 2, 4, 5]


def test_the_queries_stay_standard_library() -> None:
    tree = ast.parse((BOT / "queries.py").read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed_bot = {"bot.errors", "bot.figures", "bot.layout"}  # each standard library only
    assert {m for m in imported if m.startswith("bot")} <= allowed_bot
    assert not {m for m in imported if m.split(".")[0] in ("sqlite_utils", "orjson", "typer", "rich")}
