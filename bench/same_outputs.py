"""Are `bot backtest`'s outputs byte-identical between two source trees? (issue 13: every
change to loading must leave the results as they were.)

Runs `python -m bot backtest FILE --out DIR --quiet ...` with each tree's interpreter (cwd =
the tree, so its `bot` package is the one imported) on the same files, and compares the
sha256 of every file written (summary.json, trades.csv, report.html/.svg, logs/, state/,
baselines/NAME/...) but the wall-clock `timing.json`, and of a dump of the journal's rows.
`data.loading` in summary.json and its "Loading" row in report.html (how the file was read:
added by issue 13's streaming work) are taken out before hashing, so a tree without them
compares.

The files: the rows per token of bench/load_formats.py (ROWS rows, default 100,000: over
16 MiB as CSV, so streamed; as Parquet) with the 3 baselines and without, and the bot's own
simulated tape of bench/backtest_throughput.py (EVENTS events, default 50,000).

    OTHER=../other-checkout .venv/bin/python bench/same_outputs.py      # prints JSON; exit 1 if any differs
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_formats import COLUMNS, OUT  # noqa: E402

ROWS = int(os.environ.get("ROWS", "100000"))
EVENTS = int(os.environ.get("EVENTS", "50000"))
if not os.environ.get("OTHER"):
    sys.exit("bench/same_outputs.py: set OTHER to the other source tree to compare with (OTHER=../main)")
OTHER = Path(os.environ["OTHER"])


def _python(tree: Path) -> str:
    venv = tree / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _normalized(path: Path) -> bytes:
    content = path.read_bytes()
    if path.name == "summary.json":
        content = re.sub(rb'\n *"loading": \{[^}]*\},?', b"", content)
    elif path.name == "report.html":
        content = re.sub(rb"<tr><td>Loading</td>.*?</tr>\n?", b"", content)
    return content


def _journal_rows(db: Path) -> bytes:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = []
        tables = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        for table in tables:
            out.append(f"## {table}")
            out.extend(repr(row) for row in con.execute(f"SELECT * FROM {table} ORDER BY rowid"))
        return "\n".join(out).encode()
    finally:
        con.close()


def hashes(tree: Path, data: Path, extra: list[str]) -> dict[str, str]:
    """Every output file's sha256 (and the journals' rows) of one `bot backtest` run."""
    work = Path(tempfile.mkdtemp(prefix="same-"))
    out = work / "results"
    command = [_python(tree), "-m", "bot", "backtest", str(data), "--out", str(out), "--quiet", *extra]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} (in {tree}) failed:\n{done.stderr}")
    try:
        result = {}
        for path in sorted(out.rglob("*")):
            if not path.is_file() or path.name == "timing.json":
                continue
            name = str(path.relative_to(out))
            result[name] = hashlib.sha256(_normalized(path)).hexdigest()
            if path.suffix == ".db":
                result[name + " (rows)"] = hashlib.sha256(_journal_rows(path)).hexdigest()
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cases() -> list[tuple[str, Path, list[str]]]:
    columns = ["--option", f"columns={json.dumps(COLUMNS)}"]
    written = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "real_file.py"), "generate", str(ROWS)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    paths = {fmt: Path(p) for fmt, p in json.loads(written).items()}
    from bench.real_file import tape

    return [
        ("csv default", paths["csv"], columns),
        ("csv --skip-baselines", paths["csv"], [*columns, "--skip-baselines"]),
        ("parquet default", paths["parquet"], columns),
        ("parquet --skip-baselines", paths["parquet"], [*columns, "--skip-baselines"]),
        ("tape default", tape(EVENTS), []),
    ]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "same_outputs", "this": str(ROOT), "other": str(OTHER), "cases": {}}
    differ = 0
    for label, data, extra in cases():
        ours, theirs = hashes(ROOT, data, extra), hashes(OTHER, data, extra)
        names = sorted(set(ours) | set(theirs))
        different = [n for n in names if ours.get(n) != theirs.get(n)]
        differ += len(different)
        report["cases"][label] = {"file": data.name, "files": len(names), "different": different}
    report["identical"] = differ == 0
    print(json.dumps(report, indent=2))
    sys.exit(0 if differ == 0 else 1)


if __name__ == "__main__":
    main()
