"""The house rules of docs/architecture.md, kept by a test.

Every module of the package has a layer; a module imports only from its own layer and
the layers below it (every import counts: module level, inside a function, or under
TYPE_CHECKING); no import cycle; no module over 600 lines; layer 0 is standard library
only (and msgspec, which BookTick is built on); the reading side never reaches the engine.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "bot"
MAX_LINES = 600

# The table of docs/architecture.md: a module's path under bot/ (a folder ends with "/"),
# the most specific entry wins.
LAYERS: dict[str, int] = {
    # 0 foundations (standard library only)
    "__init__.py": 0,
    "model.py": 0,
    "figures.py": 0,
    "layout.py": 0,
    "errors.py": 0,
    "clock.py": 0,
    "safefile.py": 0,
    "fairvalue.py": 0,
    # 1 settings, storage, ports
    "config.py": 1,
    "config_alerts.py": 1,
    "config_polymarket.py": 1,
    "schema.py": 1,
    "journal.py": 1,
    "journal_restore.py": 1,
    "queries.py": 1,
    "statefiles.py": 1,
    "storage.py": 1,
    "logfiles.py": 1,
    "controls.py": 1,
    "overrides.py": 1,
    "startup.py": 1,
    "preflight.py": 1,
    "inbox.py": 1,
    "forecasts.py": 1,
    "venues/base.py": 1,
    "feeds/__init__.py": 1,
    "feeds/ws_session.py": 1,
    # 2 the parts the engine drives
    "activity.py": 2,
    "sentences.py": 2,
    "portfolio.py": 2,
    "risk.py": 2,
    "runtime.py": 2,
    "exits.py": 2,
    "scorecard.py": 2,
    "metrics.py": 2,
    "strategies/": 2,
    "orders.py": 2,
    "booking.py": 2,
    "resolution.py": 2,
    "strikes.py": 2,
    "orphans.py": 2,
    "breaker.py": 2,
    "supervisor.py": 2,
    "state.py": 2,
    "describe.py": 2,
    "guard.py": 2,
    "notify.py": 2,
    "intake.py": 2,
    # 3 adapters
    "venues/": 3,
    "feeds/": 3,
    "markets/": 3,
    "redemption/": 3,
    "webhooks.py": 3,
    # 4 the engine and what runs it
    "engine.py": 4,
    "engine_files.py": 4,
    "wiring.py": 4,
    "app.py": 4,
    "backtest.py": 4,
    "live.py": 4,
    "console.py": 4,
    "report/": 4,
    "compare/": 4,
    "backtest_audit.py": 4,
    "backtest_results.py": 4,
    "backtest_source.py": 4,
    "sweep.py": 4,
    "sweep_dask.py": 4,
    "download.py": 4,
    # 5 commands and the reading side
    "__main__.py": 5,
    "entry.py": 5,
    "cli.py": 5,
    "cli_common.py": 5,
    "cli_operator.py": 5,
    "help.py": 5,
    "reader.py": 5,
    "tables.py": 5,
    "watch.py": 5,
    "serve.py": 5,
    "alerts.py": 5,
    "doctor.py": 5,
    "mcp_server.py": 5,
    "steer.py": 5,
    "ack.py": 5,
    "home.py": 5,
    "settings_view.py": 5,
    "schema_files.py": 5,
    "mcp_inbox.py": 5,
    "inbox_client.py": 5,
    # 6 test infrastructure
    "testing/": 6,
}

READING_SIDE = [
    "reader.py",
    "tables.py",
    "watch.py",
    "serve.py",
    "alerts.py",
    "doctor.py",
    "mcp_server.py",
    "steer.py",
    "ack.py",
    "home.py",
    "settings_view.py",
    "schema_files.py",
]
ENGINE = {"engine.py", "wiring.py", "app.py"}


def modules() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py"))


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching key, layer)
    for key, layer in LAYERS.items():
        matches = module == key or (key.endswith("/") and module.startswith(key))
        if matches and (best is None or len(key) > best[0]):
            best = (len(key), layer)
    return None if best is None else best[1]


def _resolve(dotted: str) -> str | None:
    """bot.a.b → 'a/b.py' or 'a/b/__init__.py', if that module exists."""
    parts = dotted.split(".")[1:]
    if not parts:
        return "__init__.py"
    for candidate in ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"])):
        if (ROOT / candidate).exists():
            return candidate
    return None


@cache
def imports_of(module: str) -> tuple[set[str], set[str]]:
    """(the bot modules it imports, the top-level names of everything else it imports)."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    package = ["bot", *module.split("/")[:-1]]
    inside: set[str] = set()
    outside: set[str] = set()

    def add(dotted: str) -> None:
        if dotted == "bot" or dotted.startswith("bot."):
            found = _resolve(dotted)
            if found is not None:
                inside.add(found)
        else:
            outside.add(dotted.split(".")[0])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            # `from bot.pkg import mod` imports the module mod, not what bot/pkg/__init__.py names
            names = [a.name for a in node.names]
            submodules = [_resolve(f"{origin}.{n}") for n in names] if origin.startswith("bot") else []
            inside.update(m for m in submodules if m is not None)
            if not submodules or None in submodules:
                add(origin)
    inside.discard(module)
    return inside, outside


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(imports_of(node)[0]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in modules():
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _is_package_init(module: str) -> bool:
    return module.endswith("/__init__.py")


def test_every_module_has_a_layer():
    missing = [m for m in modules() if layer_of(m) is None]
    assert not missing, f"add these to LAYERS here and to docs/architecture.md: {missing}"


def upward_imports() -> list[str]:
    upward = []
    for module in modules():
        mine = layer_of(module)
        if mine is None:
            continue
        for imported in sorted(imports_of(module)[0]):
            theirs = layer_of(imported)
            # A package's __init__ re-exports what its own modules define.
            same_package = _is_package_init(imported) and module.startswith(imported[: -len("__init__.py")])
            if theirs is not None and theirs > mine and not same_package:
                upward.append(f"{module} (layer {mine}) imports {imported} (layer {theirs})")
    return upward


def test_no_import_runs_up_the_layers():
    upward = upward_imports()
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    assert cycles() == []


def test_no_module_is_over_600_lines():
    long = {}
    for module in modules():
        with (ROOT / module).open(encoding="utf-8") as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            long[module] = n
    assert not long, f"split these by job: {long}"


def test_foundations_are_standard_library_only():
    # BookTick (model.py) is a msgspec Struct: the tape reader decodes book lines into it
    stdlib = set(sys.stdlib_module_names) | {"__future__", "msgspec"}
    foreign = {
        module: sorted(imports_of(module)[1] - stdlib)
        for module in modules()
        if layer_of(module) == 0 and imports_of(module)[1] - stdlib
    }
    assert not foreign, foreign


@pytest.mark.parametrize("module", READING_SIDE)
def test_the_reading_side_never_reaches_the_engine(module):
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(imports_of(current)[0])
    assert not (seen & ENGINE), f"{module} reaches {sorted(seen & ENGINE)}"


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    """The rules above are not vacuous: a planted cycle and an upward import are found."""
    fake = tmp_path / "bot"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "model.py").write_text("from bot import engine\n")
    (fake / "engine.py").write_text("import bot.model\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    imports_of.cache_clear()
    try:
        assert cycles() == [["engine.py", "model.py"]]
        assert upward_imports() == ["model.py (layer 0) imports engine.py (layer 4)"]
    finally:
        imports_of.cache_clear()
