"""Faults of the journal, the disk and the home lock, with the bot as a real subprocess.

A lost or damaged journal is never a silent fresh start; a full or read-only disk halts
cleanly; one bot per home whatever happens to state/bot.lock (docs/reliability.md).
The disk tests mount a small tmpfs as the home; they skip when that is not permitted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.support import FAST_CONFIG, BotProcess, activity, eventually, read_json

SLOW_CONFIG = FAST_CONFIG.replace("speed = 40", "speed = 5")


def run_once(home: Path, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`bot run` that is expected to refuse: it must return by itself."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--home", str(home), "--quiet", *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    err = result.stderr.strip()
    assert result.returncode == 3, (result.returncode, err, result.stdout)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def past_session(home: Path, config: str = FAST_CONFIG) -> dict[str, object]:
    """A home whose bot ran, traded a little and was stopped: its last status.json."""
    bot = BotProcess(home, config).start()
    try:
        bot.wait_ready()
        eventually(lambda: any(a["type"] == "ORDER_FILLED" for a in activity(home)), timeout=30)
    finally:
        bot.stop()
    return read_json(home / "state" / "status.json")


def journal_rows(home: Path, sql: str) -> list[tuple[object, ...]]:
    return journal_rows_at(home / "state" / "bot.db", sql)


# -- 4. a lost or damaged journal ---------------------------------------------------------


def test_missing_journal_refuses_then_fresh_starts_over_and_keeps_the_old_files(tmp_path: Path) -> None:
    status = past_session(tmp_path)
    old = (tmp_path / "state" / "bot.db").read_bytes()
    (tmp_path / "state" / "bot.db").unlink()
    err = assert_refused(run_once(tmp_path), "state/bot.db is missing", "--fresh", "restore")
    assert f"session {status['session_id']}" in err
    assert not (tmp_path / "state" / "bot.db").exists(), "a refused start creates no journal"
    (tmp_path / "state" / "bot.db").write_bytes(old)  # put back, then start over on purpose
    bot = BotProcess(tmp_path, FAST_CONFIG, "--fresh").start()
    try:
        status = bot.wait_ready()
        # a new journal: session 1 again (status.json is written with every state write now,
        # so the fresh bot may already have traded when it is first read: no balance check)
        assert status["session_id"] == 1
    finally:
        bot.stop()
    archives = list((tmp_path / "state").glob("archive-*"))
    assert len(archives) == 1
    kept = {p.name for p in archives[0].iterdir()}
    assert {"bot.db", "status.json", "trading_state.json", "tapes"} <= kept
    assert (archives[0] / "bot.db").read_bytes()[:16] == b"SQLite format 3\x00"
    started = [a for a in activity(tmp_path) if a["type"] == "BOT_STARTED"][-1]
    assert archives[0].name in started["details"]


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "directory", "newer_schema"])
def test_a_damaged_journal_is_one_line_and_exit_3(tmp_path: Path, damage: str) -> None:
    past_session(tmp_path)
    db = tmp_path / "state" / "bot.db"
    expected = {
        "empty": "state/bot.db is empty",
        "garbage": "state/bot.db is damaged",
        "truncated": "state/bot.db is damaged",
        "directory": "state/bot.db: is a directory, not a regular file",
        "newer_schema": "schema version 99",
    }[damage]
    if damage == "empty":
        db.write_bytes(b"")
    elif damage == "garbage":
        db.write_bytes(os.urandom(64 << 10))
    elif damage == "truncated":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2] + os.urandom(4096) + data[len(data) // 2 + 4096 :])
    elif damage == "directory":
        db.unlink()
        db.mkdir()
    else:
        conn = sqlite3.connect(db)
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        conn.commit()
        conn.close()
    for name in ("bot.db-wal", "bot.db-shm"):
        with contextlib.suppress(FileNotFoundError):
            (tmp_path / "state" / name).unlink()
    result = run_once(tmp_path)
    if damage == "directory":  # an odd shape in the home: exit 2 (bot/preflight.py), named
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    else:
        assert_refused(result, expected)


def test_a_deleted_wal_after_a_kill_is_noticed(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path).start()
    bot.wait_ready()
    eventually(lambda: any(a["type"] == "ORDER_FILLED" for a in activity(tmp_path)), timeout=30)
    eventually(lambda: bot.status()["last_activity_id"] > 3)
    bot.kill()
    bot.stop()
    (tmp_path / "state" / "bot.db-wal").unlink()
    (tmp_path / "state" / "bot.db-shm").unlink()
    assert_refused(run_once(tmp_path), "ends before what state/status.json shows", "lost")


def test_state_files_deleted_beside_a_good_journal_are_rebuilt(tmp_path: Path) -> None:
    before = past_session(tmp_path)
    for name in ("status.json", "trading_state.json", "trades_today.json"):
        (tmp_path / "state" / name).unlink()
    bot = BotProcess(tmp_path).start()
    try:
        status = bot.wait_ready()
        assert status["session_id"] == before["session_id"] + 1
        started = [a for a in activity(tmp_path) if a["type"] == "BOT_STARTED"][-1]
        assert started["restored"]["balance"] == before["account"]["balance"]
        assert (tmp_path / "state" / "trading_state.json").exists()
    finally:
        bot.stop()


def test_a_kill_while_the_journal_is_created_leaves_a_home_that_starts(tmp_path: Path) -> None:
    """sqlite-utils commits table by table: a journal cut short while it is built is
    built again (it holds no session yet), not a traceback."""
    (tmp_path / "state").mkdir()
    conn = sqlite3.connect(tmp_path / "state" / "bot.db")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("CREATE TABLE sessions (session_id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    bot = BotProcess(tmp_path).start()
    try:
        assert bot.wait_ready()["session_id"] == 1
    finally:
        bot.stop()


def test_a_journal_held_by_another_program_is_one_line_and_exit_3(tmp_path: Path) -> None:
    past_session(tmp_path)
    conn = sqlite3.connect(tmp_path / "state" / "bot.db", isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        assert_refused(run_once(tmp_path), "state/bot.db is locked by another program")
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.mark.parametrize("name", ["state", "logs", "controls"])
def test_a_file_where_a_folder_belongs_is_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    """An odd shape in the home is a configuration problem (exit 2, issue 10 class 7), named."""
    (tmp_path / "bot.toml").write_text(FAST_CONFIG)
    (tmp_path / name).write_text("not a folder")
    result = run_once(tmp_path)
    err = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, err)
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    assert f"{name}: is a regular file, but {name}/ must be a folder" in err, err


# -- 6. one bot per home --------------------------------------------------------------


def test_deleting_the_lock_file_lets_no_second_bot_in(bot: BotProcess) -> None:
    bot.start().wait_ready()
    lock = bot.home / "state" / "bot.lock"
    assert lock.read_text().strip() == str(bot.pid)
    lock.unlink()
    other = run_once(bot.home)
    assert_refused(other, "another bot is already running")
    assert bot.proc is not None, "the first bot must keep running"
    assert bot.proc.poll() is None, "the first bot must keep running"
    # the running bot writes its pid again at a heartbeat; a refused start never writes it
    eventually(lambda: lock.read_text().strip() == str(bot.pid))
    assert_refused(run_once(bot.home), f"pid {bot.pid}")
    assert lock.read_text().strip() == str(bot.pid)
    assert_refused(run_once(bot.home, "--fresh"), f"pid {bot.pid}")
    assert not list((bot.home / "state").glob("archive-*")), "a refused --fresh moves nothing"
    assert (bot.home / "state" / "bot.db").exists()


def test_removing_all_of_state_lets_no_second_bot_in_and_halts_the_first(bot: BotProcess) -> None:
    bot.start().wait_ready()
    state = bot.home / "state"
    aside = bot.home / "state-moved"
    os.rename(state, aside)
    assert_refused(run_once(bot.home), "another bot is already running")
    status = eventually(lambda: (s := read_json(state / "status.json"))["trading_state"] == "HALTED" and s)
    assert "state/ was removed or replaced" in status["reason"]


def test_a_journal_deleted_while_running_halts_and_the_next_start_refuses(bot: BotProcess) -> None:
    bot.start().wait_ready()
    for name in ("bot.db", "bot.db-wal", "bot.db-shm"):
        (bot.home / "state" / name).unlink()
    status = eventually(lambda: (s := bot.status())["trading_state"] == "HALTED" and s)
    assert "state/bot.db was removed or replaced" in status["reason"]
    bot.stop()
    assert_refused(run_once(bot.home), "state/bot.db is missing", "--fresh")


# -- 5. a full or read-only disk ---------------------------------------------------------


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
    done = subprocess.run(mount, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Fill the disk under `folder` to the last byte."""
    path = folder / f"filler-{uuid.uuid4().hex}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (64 << 10, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)
    return path


def test_a_full_disk_halts_cleanly_and_trading_resumes_when_space_is_back(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "home", "8m") as home:
        bot = BotProcess(home).start()
        try:
            bot.wait_ready()
            eventually(lambda: any(a["type"] == "ORDER_FILLED" for a in activity(home)), timeout=30)
            filler = fill(home)
            status = eventually(lambda: (s := bot.status())["trading_state"] == "HALTED" and s, timeout=20)
            assert "disk is full" in status["reason"]
            assert status["is_alive"]
            assert status["risk"]["can_trade"] is False
            eventually(
                lambda: [a for a in activity(home) if a["type"] == "ERROR" and "HALTED: disk" in a["details"]]
            )
            assert bot.proc is not None, "the bot must not die"
            assert bot.proc.poll() is None, "the bot must not die"
            beat = bot.status()["timestamp"]
            eventually(lambda: bot.status()["timestamp"] != beat, timeout=20)  # still beating
            conn = sqlite3.connect(home / "state" / "bot.db")
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            conn.close()
            filler.unlink()
            eventually(lambda: bot.status()["trading_state"] == "ACTIVE", timeout=20)
            assert any(a["type"] == "DISK_RECOVERED" for a in activity(home))
            assert (home / "state" / "disk.reserve").stat().st_size == 1 << 20
        finally:
            bot.stop()
        assert bot.proc is not None
        assert bot.proc.returncode == 0
        assert "Traceback" not in (bot.home / "logs" / "bot.log").read_text()


def test_a_kill_during_a_disk_fault_restarts_from_the_journal_once_space_is_back(tmp_path: Path) -> None:
    """What the fault kept from the journal is lost as after any kill -9, and the files
    written meanwhile do not make the next start take the journal for a damaged one."""
    with tmpfs(tmp_path / "home", "8m") as home:
        bot = BotProcess(home).start()
        try:
            bot.wait_ready()
            eventually(lambda: any(a["type"] == "ORDER_FILLED" for a in activity(home)), timeout=30)
            filler = fill(home)
            eventually(lambda: bot.trading_state()["trading_state"] == "HALTED", timeout=20)
            bot.kill()
        finally:
            bot.stop()
        filler.unlink()
        conn = sqlite3.connect(home / "state" / "bot.db")
        cash = conn.execute("SELECT SUM(amount_micros) FROM cash").fetchone()[0] / 1e6
        conn.close()
        again = BotProcess(home).start()
        try:
            status = again.wait_ready()
            assert status["trading_state"] == "ACTIVE", "the disk halt is not carried over"
            started = [a for a in activity(home) if a["type"] == "BOT_STARTED"][-1]
            assert started["restored"]["balance"] == cash
        finally:
            again.stop()


def test_a_start_on_a_full_disk_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "home", "4m") as home:
        (home / "bot.toml").write_text(FAST_CONFIG)
        fill(home)
        assert_refused(run_once(home), "the disk is full", "free some space")


def test_a_start_on_a_read_only_home_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "home", "8m") as home:
        past_session(home)
        done = subprocess.run(["mount", "-o", "remount,ro", str(home)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"remount read-only is not permitted: {done.stderr.decode().strip()}")
        assert_refused(run_once(home), "read-only")


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`chattr +i`: not even root may write it (root ignores the permission bits)."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.mark.parametrize("target", ["bot.db", "bot.db-wal", "bot.db-shm", "state"])
def test_a_journal_the_bot_may_not_write_is_one_line_and_exit_3(tmp_path: Path, target: str) -> None:
    bot = BotProcess(tmp_path).start()
    bot.wait_ready()
    bot.kill()  # a kill leaves the -wal and -shm files beside the journal
    bot.stop()
    path = tmp_path / "state" if target == "state" else tmp_path / "state" / target
    assert path.exists()
    with immutable(path):
        err = assert_refused(run_once(tmp_path))
    assert "bot.db" in err or "state" in err, err
    assert any(w in err for w in ("read-only", "not permitted", "permission", "cannot be opened")), err


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("logs/activity.jsonl", "operation not permitted"),
        ("state/bot.db-wal", "disk I/O error"),
        ("state/status.json", "operation not permitted"),
    ],
)
def test_a_refused_write_while_running_halts_and_lifts_with_nothing_lost(
    bot: BotProcess, target: str, said: str
) -> None:
    """EPERM on a log append or a state file, an I/O error on the journal's commit: HALTED
    with the reason, the bot goes on, it does not lift while the write is still refused, and
    once the file may be written again every row and line is there."""
    bot.start().wait_ready()
    eventually(lambda: any(a["type"] == "ORDER_FILLED" for a in activity(bot.home)), timeout=30)

    def halted() -> dict[str, object] | None:  # status.json itself may be the file refused
        state = bot.trading_state()
        return state if state["trading_state"] == "HALTED" else None

    with immutable(bot.home / target):
        state = eventually(halted, timeout=20)
        assert said in str(state["trading_state_reason"]), state["trading_state_reason"]
        assert "lifts by itself" in str(state["trading_state_reason"])
        assert "HALTED" in state["controls"]["in_effect"]  # type: ignore[index]
        # a minute of market time (several retries) goes by: the bot goes on, still halted
        start = datetime.fromisoformat(str(state["market_time"]))
        eventually(
            lambda: (datetime.fromisoformat(bot.trading_state()["market_time"]) - start).total_seconds() > 60,
            timeout=30,
        )
        assert halted(), "the halt must not lift while the write is still refused"
    eventually(lambda: any(a["type"] == "DISK_RECOVERED" for a in activity(bot.home)), timeout=20)
    eventually(lambda: bot.status()["trading_state"] == "ACTIVE", timeout=20)
    bot.stop()
    assert bot.proc is not None
    assert bot.proc.returncode == 0
    lines = activity(bot.home)
    assert [a["type"] for a in lines].count("DISK_RECOVERED") == 1
    rows = journal_rows(bot.home, "SELECT type, details FROM activity ORDER BY activity_id")
    assert [(a["type"], a["details"]) for a in lines] == [tuple(r) for r in rows]
    assert journal_rows(bot.home, "PRAGMA quick_check") == [("ok",)]


def test_a_commit_the_disk_refuses_keeps_its_rows_for_the_next_one(tmp_path: Path) -> None:
    """SQLite rolls a transaction back when the WAL cannot grow; the journal writes the
    rows again, so they (and the ids handed out) are all there once space is back."""
    from bot.errors import StorageError
    from bot.journal import Journal

    with tmpfs(tmp_path / "disk", "1m") as disk:
        journal = Journal(disk / "bot.db")
        for i in range(20):
            journal.add_activity(i, "A", "m", "x" * 1000)
        journal.commit()
        filler = fill(disk)
        ids = []
        for i in range(300):
            journal.add_activity(i, "B", "m", "y" * 1000)
            ids.append(journal._activity_id)
        with pytest.raises(StorageError, match="disk is full"):
            journal.commit()
        assert journal.conn.in_transaction
        assert journal.failing
        journal.add_activity(0, "C", "m", "after the failure")
        with pytest.raises(StorageError):
            journal.commit()
        filler.unlink()
        journal.commit()
        journal.close()
        rows = journal_rows_at(disk / "bot.db", "SELECT activity_id, type FROM activity ORDER BY activity_id")
        assert [t for _, t in rows] == ["A"] * 20 + ["B"] * 300 + ["C"]
        assert [i for i, t in rows if t == "B"] == ids


def journal_rows_at(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_sigterm_during_a_disk_fault_stops_without_traceback(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "home", "8m") as home:
        bot = BotProcess(home).start()
        try:
            bot.wait_ready()
            fill(home)
            # the halt comes at the bot's next journal write: on a loaded machine that can be late
            eventually(lambda: bot.status()["trading_state"] == "HALTED", timeout=60)
            bot.kill(signal.SIGTERM)
            assert bot.proc is not None
            _, err = bot.proc.communicate(timeout=10)
            assert "Traceback" not in err, err
            assert bot.proc.returncode == 0
            assert read_json(home / "state" / "status.json")["is_alive"] is False
        finally:
            bot.stop()
