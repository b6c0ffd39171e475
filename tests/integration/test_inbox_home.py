"""inbox/ as a real `bot run` (PAPER) sees it at the home level: the README a new home gets,
a flood larger than one look (20 files per look, the rest wait, none lost), and an
`inbox/done` that is a file rather than a folder (said once, nothing touched until mended).

Each test starts its own bot: the files are in place before it starts, which is the only
way to hand it more than one look's worth at once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from bot import inbox, layout
from tests.schema_check import assert_valid
from tests.support import BotProcess, eventually, read_json

# Hour-long windows at market speed 1: the markets stay open for the whole test.
CONFIG = """
heartbeat_s = 0.2
state_refresh_s = 0.2

[market]
window_s = 3600
tick_s = 1.0

[strategies]
enabled = ["forecast"]
"""
TIMEOUT_S = 60.0  # a loaded 2-core machine: generous


def forecast(n: int) -> dict[str, Any]:
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    market = ("BTC", "ETH", "SOL")[n % 3]
    return {"kind": "forecast", "market": market, "probability": 0.5, "valid_until": until, "source": "flood"}


def put(folder: Path, name: str, item: dict[str, Any]) -> None:
    """Write then rename, as inbox/README.md says."""
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(item))
    os.rename(tmp, folder / name)


def activity(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "activity.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def bots() -> Iterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for bot in started:
        bot.stop()


def test_a_flood_of_60_is_answered_in_full_in_order_at_most_20_per_look_and_none_twice(
    tmp_path: Path, bots: list[BotProcess]
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    names = [f"f-{n:02d}" for n in range(60)]
    for n, name in enumerate(names):  # oldest first is the order the bot reads them in
        put(folder, f"{name}.json", forecast(n))
    bot = BotProcess(tmp_path, CONFIG)
    bots.append(bot)
    bot.start().wait_ready(TIMEOUT_S)
    done = folder / "done"
    eventually(
        lambda: len(list(done.glob("*.accepted.json")) + list(done.glob("*.rejected.json"))) >= 60, TIMEOUT_S
    )

    answers = {name: read_json(done / f"{name}.accepted.json") for name in names}
    for answer in answers.values():
        assert_valid("inbox_ack", answer)
    assert sorted(p.name for p in folder.iterdir()) == [layout.INBOX_README, "done"]  # no file left behind
    assert sorted(p.name for p in done.iterdir()) == sorted(
        [f"{name}.json" for name in names] + [f"{name}.accepted.json" for name in names]
    )  # each once: a second answer would be NAME~2
    assert [answers[name]["inbox_id"] for name in names] == sorted(a["inbox_id"] for a in answers.values())

    with sqlite3.connect(tmp_path / "state" / "bot.db") as db:
        rows = db.execute("SELECT file, received_ms, result FROM inbox ORDER BY inbox_id").fetchall()
    assert [file for file, _, _ in rows] == [f"{name}.json" for name in names]  # in order, none twice
    assert {result for _, _, result in rows} == {"ACCEPTED"}
    looks = [len(list(group)) for _, group in groupby(received for _, received, _ in rows)]
    assert max(looks) <= inbox.PER_CYCLE, looks  # one look reads at most 20; the rest waited
    assert len(looks) >= 60 // inbox.PER_CYCLE, looks
    # the state files are rewritten after the answers are moved: wait for the last look's write
    eventually(lambda: bot.trading_state()["inbox"]["accepted"] == 60, TIMEOUT_S)


def test_a_new_home_gets_the_inbox_readme(tmp_path: Path, bots: list[BotProcess]) -> None:
    bot = BotProcess(tmp_path, CONFIG)
    bots.append(bot)
    bot.start().wait_ready(TIMEOUT_S)
    readme = tmp_path / "inbox" / "README.md"
    assert readme.read_text() == inbox.README
    for needed in ("inbox/done/", "NAME.accepted.json", "NAME.rejected.json", '"forecast"', '"order"'):
        assert needed in inbox.README
    for key in (*inbox.FORECAST_KEYS, *inbox.ORDER_KEYS):
        assert key in inbox.README


def test_inbox_done_that_is_a_file_is_said_once_and_nothing_moves_until_it_is_a_folder(
    tmp_path: Path, bots: list[BotProcess]
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "README.md").write_text("the operator's own notes\n")
    (folder / "done").write_text("not a folder\n")
    names = ["held-0", "held-1", "held-2"]
    for n, name in enumerate(names):
        put(folder, f"{name}.json", forecast(n))
    before = {name: (folder / f"{name}.json").stat() for name in names}
    bot = BotProcess(tmp_path, CONFIG)
    bots.append(bot)
    bot.start().wait_ready(TIMEOUT_S)  # the bot starts: a bad inbox/done stops only the inbox

    def said() -> list[dict[str, Any]]:
        return [a for a in activity(tmp_path) if a["type"] == "ERROR" and "inbox/done" in a["details"]]

    first = eventually(said, TIMEOUT_S)[0]
    assert first["details"] == inbox.done_problem(folder / "done")
    assert f"{folder / 'done'} is a regular file, not a folder" in first["details"]
    assert "mv " in first["details"]
    # many looks later (heartbeat_s 0.2: a look at least every 0.2 s), still said once
    said_at = time.time()
    eventually(lambda: bot.status()["timestamp_epoch_s"] > said_at + 2.0, TIMEOUT_S)
    assert len(said()) == 1
    assert bot.trading_state()["inbox"]["waiting"] == len(names)
    for name in names:  # untouched: same file, same bytes, same time
        after = (folder / f"{name}.json").stat()
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
            before[name].st_ino,
            before[name].st_size,
            before[name].st_mtime_ns,
        )
    assert not list(folder.glob("*.accepted.json"))

    os.rename(folder / "done", tmp_path / "inbox-done.old")  # mended as the line says
    done = folder / "done"
    eventually(lambda: all((done / f"{name}.accepted.json").exists() for name in names), TIMEOUT_S)
    assert (folder / "README.md").read_text() == "the operator's own notes\n"  # never overwritten
    assert len(said()) == 1
    eventually(lambda: bot.trading_state()["inbox"]["waiting"] == 0, TIMEOUT_S)

    # the same mistake while the bot runs: said again, once, and the new file waits untouched
    os.rename(done, tmp_path / "answers-kept-elsewhere")
    (folder / "done").write_text("not a folder again\n")
    put(folder, "late.json", forecast(0))
    eventually(lambda: len(said()) == 2, TIMEOUT_S)
    eventually(lambda: bot.trading_state()["inbox"]["waiting"] == 1, TIMEOUT_S)
    again_at = time.time()
    eventually(lambda: bot.status()["timestamp_epoch_s"] > again_at + 2.0, TIMEOUT_S)
    assert len(said()) == 2
    assert (folder / "late.json").exists()
