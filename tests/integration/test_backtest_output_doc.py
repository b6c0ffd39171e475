"""docs/backtest-output.md names every file and field a real backtest and sweep write, and
nothing they no longer write.

Small real runs through the CLI: one with everything a summary can hold (the underlying,
baselines, a limit that stops entries, a market left unresolved, a malformed row, a row past
its window), one where a strategy cannot fire, and a two-run sweep. The field names of every
summary.json they wrote (the baselines' too), timing.json, sweep.json and sweep-timing.json
are matched against the tables of the reference, both ways; so are the files and the
columns of trades.csv.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.research_data import write_research_data

DOC = Path(__file__).resolve().parents[2] / "docs" / "backtest-output.md"
WILDCARDS = {"NAME", "SCHEDULE", "TICK", "REASON"}  # keys that vary, as the reference says
# the settings themselves, named by bot.toml and the sweep's own --sweep keys: not described
# field by field in the reference, so not descended into
OPAQUE = ("config", "settings.strategy_params.NAME", "runs[].settings")

Path_ = tuple[str, ...]


def _doc_path(text: str) -> Path_:
    """`markets[].name` -> ("markets", "[]", "name")."""
    out: list[str] = []
    for part in text.split("."):
        out.append(part.removesuffix("[]"))
        if part.endswith("[]"):
            out.append("[]")
    return tuple(out)


def _section(title: str) -> list[str]:
    """The first column (in backticks) of each table row under the heading `title`."""
    lines = DOC.read_text("utf-8").splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.lstrip("#").strip() == title and line.startswith("#")
    )
    names = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        found = re.match(r"^\| `([^`]+)` \|", line)
        if found:
            names.append(found.group(1))
    assert names, f"no table under {title!r} in {DOC.name}"
    return names


def _shown(path: Path_) -> str:
    return ".".join(path).replace(".[]", "[]")


def _matches(doc: Path_, real: Path_) -> bool:
    return len(doc) == len(real) and all(
        d == r or (d in WILDCARDS and r != "[]") for d, r in zip(doc, real, strict=True)
    )


def written(value: Any, prefix: Path_ = ()) -> set[Path_]:
    """Every field path in `value`: a list of objects as PATH, [] and its items' fields."""
    out: set[Path_] = set()
    if prefix:
        out.add(prefix)
    if any(_matches(_doc_path(o), prefix) for o in OPAQUE):
        return out
    if isinstance(value, dict):
        for key, sub in value.items():
            out |= written(sub, (*prefix, str(key)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                out |= written(item, (*prefix, "[]"))
    return out


def _compare(title: str, real: set[Path_]) -> None:
    documented = [_doc_path(d) for d in _section(title)]

    def covered(path: Path_) -> bool:
        """Named, as a list of objects (`NAME[]`), or as the table of a field named below it."""
        return any(
            _matches(d, path) or _matches(d, (*path, "[]")) or _matches(d[: len(path)], path)
            for d in documented
        )

    missing = sorted(_shown(p) for p in real if not covered(p))
    assert not missing, f"written but not in {DOC.name} under {title!r}: {missing}"
    stale = sorted(_shown(d) for d in documented if not any(_matches(d, p) for p in real))
    assert not stale, f"in {DOC.name} under {title!r} but no test run wrote them: {stale}"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "backtest", *map(str, args), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result


def _runs(folder: Path) -> dict[str, Path]:
    books, under = write_research_data(folder, windows=6)
    lines = books.read_text().splitlines()
    last = [line if ",m5," not in line else line.rsplit(",", 1)[0] + "," for line in lines]  # unresolved
    past_end = "1800000310,m0,01,Up,0.49,0.51,200,200,1800000300,Down"  # after m0's window: ignored
    books.write_text("\n".join([*last, past_end, "not,a,row"]) + "\n")
    cfg = folder / "bot.toml"
    cfg.write_text("[risk]\nmax_consecutive_losses = 2\n\n[strategies.params.edge]\nmin_edge = 0.03\n")
    full, idle, sweep = folder / "full", folder / "idle", folder / "sweep"
    _run(books, "--config", cfg, "--out", full)
    under.rename(folder / "elsewhere.csv")  # without the underlying, edge cannot fire
    _run(books, "--config", cfg, "--skip-baselines", "--out", idle)
    _run(
        books, "--config", cfg, "--sweep", "risk.max_position_usd=2,5", "--executor", "serial", "--out", sweep
    )
    return {"full": full, "idle": idle, "sweep": sweep}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _runs(tmp_path_factory.mktemp("backtest-output"))


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_every_summary_field_written_is_in_the_reference_and_every_one_there_is_written(
    runs: dict[str, Path],
) -> None:
    summaries = [
        runs["full"] / "summary.json",
        *sorted((runs["full"] / "baselines").glob("*/summary.json")),
        runs["idle"] / "summary.json",
        *sorted(runs["sweep"].glob("run-*/summary.json")),
    ]
    assert len(summaries) == 1 + 3 + 1 + 2
    real: set[Path_] = set()
    for path in summaries:
        real |= written(_json(path))
    _compare("summary.json", real)


def test_timing_and_the_sweep_files_match_the_reference(runs: dict[str, Path]) -> None:
    _compare("timing.json", written(_json(runs["full"] / "timing.json")))
    _compare("sweep.json", written(_json(runs["sweep"] / "sweep.json")))
    _compare("sweep-timing.json", written(_json(runs["sweep"] / "sweep-timing.json")))


def test_the_files_and_the_trades_columns_are_the_reference_s(runs: dict[str, Path]) -> None:
    def listing(folder: Path) -> list[str]:
        names = {
            re.sub(r"^run-\d+$", "run-001", p.name) + ("/" if p.is_dir() else "") for p in folder.iterdir()
        }
        return sorted(names)

    assert listing(runs["full"]) == sorted(_section("bot backtest DATA --out OUT"))
    assert listing(runs["sweep"]) == sorted(_section("bot backtest DATA --sweep ... --out OUT"))
    header = (runs["full"] / "trades.csv").read_text().splitlines()[0].split(",")
    assert header == _section("trades.csv")


def test_the_matching_sees_a_field_the_reference_lacks() -> None:
    """The comparison above cannot pass by seeing nothing: an extra field fails it, a varying
    key matches its placeholder, and the settings are not descended into."""
    summary = {"per_strategy": {"edge": {"trades": 1}}, "config": {"risk": {"x": 1}}, "new_field": 1}
    real = written(summary)
    assert ("per_strategy", "edge", "trades") in real
    assert ("config", "risk") not in real
    with pytest.raises(AssertionError, match="new_field"):
        _compare("summary.json", real)
