"""Byte-identical outputs (issue 13's speed work): sha256 of every file `bot backtest` writes
(but the wall-clock timing.json) and of the journal's rows, on the 200,000-event tape of
bench/backtest_throughput.py (default strategies with the baselines, and `--strategy edge`)
and on the 100,000-row CSV of bench/load_formats.py (with the baselines). Run it before and
after a change and compare:

    .venv/bin/python bench/identical.py OUT.json            # write the hashes
    .venv/bin/python bench/identical.py OUT.json REF.json   # ... and compare with REF.json

Both data files are made first by the two benchmarks (`EVENTS=200000` for the tape).
Prints JSON: files per case, and with a reference the files that differ (none: identical).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TAPE = ROOT / "bench/out/backtest_throughput/tape-867bada506bb3b6e-1800000000000-200000.jsonl.gz"
CSV = ROOT / "bench/out/load_formats/tokens-100000.csv"
COLUMNS = {"market_id": "market", "token_id": "asset_id", "token_outcome": "side", "outcome": "winner"}
CASES = {
    "tape_default": [str(TAPE)],
    "tape_edge": [str(TAPE), "--strategy", "edge", "--skip-baselines"],
    "csv_default": [str(CSV), "--option", f"columns={json.dumps(COLUMNS)}"],
}


def _rows(db: Path) -> str:
    """sha256 of every table's rows, in rowid order."""
    con = sqlite3.connect(db)
    h = hashlib.sha256()
    for (name,) in con.execute("select name from sqlite_master where type='table' order by name"):
        for row in con.execute(f'select * from "{name}" order by rowid'):
            h.update(repr((name, row)).encode())
    con.close()
    return h.hexdigest()


def hashes(args: list[str]) -> dict[str, str]:
    folder = Path(tempfile.mkdtemp(prefix="identical-"))
    out = folder / "res"
    try:
        subprocess.run(
            [sys.executable, "-m", "bot", "backtest", *args, "--out", str(out), "--quiet"],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        found: dict[str, str] = {}
        for f in sorted(out.rglob("*")):
            if f.is_dir() or f.name == "timing.json" or f.name.startswith("bot.db"):
                continue
            found[str(f.relative_to(out))] = hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(out.rglob("bot.db")):
            found[f"{f.relative_to(out)}:rows"] = _rows(f)
        return found
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    target = Path(sys.argv[1])
    result = {case: hashes(args) for case, args in CASES.items()}
    target.write_text(json.dumps(result, indent=1, sort_keys=True))
    report: dict[str, object] = {case: len(files) for case, files in result.items()}
    if len(sys.argv) > 2:
        ref = json.loads(Path(sys.argv[2]).read_text())
        report["differ"] = [
            f"{case}/{name}"
            for case in sorted(set(ref) | set(result))
            for name in sorted(set(ref.get(case, {})) | set(result.get(case, {})))
            if ref.get(case, {}).get(name) != result.get(case, {}).get(name)
        ]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
