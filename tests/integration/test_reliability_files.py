"""Faults in the bot's home, as an operator (or a confused agent) makes them: the bot never
hangs, never crashes on a name, never trades on a configuration it could not read, and
always sees its controls. Each test drives the real `bot` in a temporary home (docs/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.feeds.tape import TapeWriter
from bot.model import ONE, BookTick, Market, WindowOpened, WindowResolved
from bot.model import Outcome as O
from tests.support import FAST_CONFIG, BotProcess, activity, eventually, read_json

START_TIMEOUT = 60  # a refusal is immediate; this only catches a hang


def run_bot(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`bot run` in `home`, which must stop on its own; a hang fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--home", str(home), "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def bot_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=START_TIMEOUT, cwd=cwd
    )


def assert_one_line_exit(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    err = result.stderr.strip()
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, err
    assert "\n" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def nothing_traded(home: Path) -> bool:
    """No journal was opened: the bot stopped before anything could trade."""
    return not (home / "state" / "bot.db").exists()


def journal_text(home: Path) -> str:
    conn = sqlite3.connect(home / "state" / "bot.db")
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def controls_last(bot: BotProcess) -> dict[str, object]:
    return bot.trading_state()["controls"]["last"] or {}


# ---------------------------------------------------------------------------------------
# 1 nothing in the home can hang the bot


def test_a_fifo_as_bot_toml_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "bot.toml")  # a plain open() would wait for a writer for ever
    result = run_bot(tmp_path)
    assert_one_line_exit(result, 2, "bot.toml", "FIFO")
    assert nothing_traded(tmp_path)


@pytest.mark.parametrize(
    "log", ["logs/activity.jsonl", "logs/bot.log", "state/bot.lock", "logs/tapes/session-1.jsonl.gz"]
)
def test_a_fifo_where_the_bot_writes_is_refused_without_blocking(tmp_path: Path, log: str) -> None:
    (tmp_path / log).parent.mkdir(parents=True)
    os.mkfifo(tmp_path / log)  # opening it to append would block until a reader came
    result = run_bot(tmp_path)
    assert_one_line_exit(result, 2, log, "FIFO")
    assert nothing_traded(tmp_path)


def test_backtest_inputs_that_are_not_regular_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "folder.csv").mkdir()
    history = tmp_path / "hist.json"
    history.write_text('{"history": [{"t": 1763780000, "p": 0.5}]}')
    os.mkfifo(tmp_path / "hist.meta.json")  # the sidecar of settings
    cases = {
        "pipe.csv": "FIFO",
        "folder.csv": "is a directory",
        "/dev/zero": "character device",
        "hist.json": "hist.meta.json: is a FIFO",
    }
    for data, why in cases.items():
        result = bot_cli("backtest", data, "--out", str(tmp_path / "out"), "--quiet", cwd=tmp_path)
        assert_one_line_exit(result, 2, why)
        assert not (tmp_path / "out").exists()


def test_a_backtest_output_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    tape = _small_tape(tmp_path)
    (tmp_path / "afile").write_text("")
    os.mkfifo(tmp_path / "apipe")
    for out, why in (("afile", "is a regular file"), ("apipe", "is a FIFO (named pipe)")):
        for extra in ((), ("--sweep", "risk.max_position_usd=2,3")):
            result = bot_cli("backtest", str(tape), "--out", str(tmp_path / out), "--quiet", *extra)
            assert_one_line_exit(result, 2, f"{out}: {why}, not a folder")


def test_a_fifo_swapped_in_and_out_under_adjust_risk_never_blocks_the_loop(bot: BotProcess) -> None:
    bot.start().wait_ready()
    name = bot.home / "controls" / "ADJUST_RISK"
    done = threading.Event()

    def swap() -> None:  # a FIFO, then a file, then a FIFO ... under the same name
        for i in range(300):
            tmp = bot.home / "controls" / f".swap{i % 2}"
            if i % 2:
                tmp.write_text("3")
            else:
                os.mkfifo(tmp)
            os.replace(tmp, name)
        os.unlink(name)
        done.set()

    thread = threading.Thread(target=swap)
    thread.start()
    thread.join(60)
    assert done.is_set()
    reasons = [a["details"] for a in activity(bot.home) if a["type"] == "CONTROL_REJECTED"]
    assert all("FIFO" in r or "removed while" in r or "not a regular" in r for r in reasons), reasons
    bot.touch("PAUSE")  # the loop is still turning: a control is applied at once
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")
    assert bot.proc is not None
    assert bot.proc.poll() is None


def test_bot_status_does_not_hang_on_a_fifo_in_state(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    os.mkfifo(tmp_path / "state" / "status.json")
    result = bot_cli("status", "--home", str(tmp_path))
    assert result.returncode == 1  # not alive, as for any unreadable status
    assert "state/status.json cannot be read: is a FIFO (named pipe), not a regular file" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_home_that_is_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("")
    result = run_bot(tmp_path / "home")
    assert_one_line_exit(result, 2, "home: is a regular file, but the bot's home must be a folder")


# ---------------------------------------------------------------------------------------
# 2 a control folder removed, replaced or turned into a file


def test_a_replaced_controls_folder_is_watched_again(bot: BotProcess) -> None:
    bot.start().wait_ready()
    controls = bot.home / "controls"
    shutil.rmtree(controls)
    controls.mkdir()
    bot.touch("PAUSE")
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")
    (controls / "PAUSE").unlink()
    eventually(lambda: bot.status()["trading_state"] == "ACTIVE")
    # again, and this time EMERGENCY_STOP must end the run
    shutil.rmtree(controls)
    controls.mkdir()
    bot.touch("EMERGENCY_STOP")
    assert bot.wait_exit(timeout=20) == 0
    assert read_json(bot.home / "state" / "status.json")["is_alive"] is False


def test_a_removed_controls_folder_is_created_again(bot: BotProcess) -> None:
    bot.start().wait_ready()
    controls = bot.home / "controls"
    shutil.rmtree(controls)
    eventually(controls.is_dir)
    assert eventually(
        lambda: any("controls/ was missing: created it again" in a["details"] for a in activity(bot.home))
    )
    bot.touch("PAUSE")
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")


def test_controls_turned_into_a_file_blocks_entries_until_it_is_a_folder_again(bot: BotProcess) -> None:
    bot.start().wait_ready()
    controls = bot.home / "controls"
    shutil.rmtree(controls)
    controls.write_text("oops")
    status = eventually(lambda: (s := bot.status())["trading_state"] == "PAUSED" and s)
    assert "not a folder" in status["risk"]["reason"]
    assert status["risk"]["can_trade"] is False
    controls.unlink()  # and not created again: the bot does it
    eventually(controls.is_dir)
    eventually(lambda: bot.status()["trading_state"] == "ACTIVE")
    bot.touch("PAUSE")
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")


# ---------------------------------------------------------------------------------------
# 3 no file name can crash the bot


def test_names_that_are_not_utf8_or_printable_are_rejected_escaped(tmp_path: Path) -> None:
    controls = os.fsencode(tmp_path / "controls")
    os.makedirs(controls)
    for raw in (b"PAUSE\xff", b"bad\nname\x1b[31m", b"\xc3\x28"):
        with open(os.path.join(controls, raw), "wb") as fh:
            fh.write(b"x")
    for _ in range(2):  # it used to kill the bot at every start while the file existed
        _run_with_odd_names(tmp_path)
    assert "\\xff" in journal_text(tmp_path)


def _run_with_odd_names(home: Path) -> None:
    bot = BotProcess(home).start()
    try:
        bot.wait_ready()
        shown = eventually(
            lambda: (
                {a["details"].split(": ")[0] for a in activity(home) if a["type"] == "CONTROL_REJECTED"}
                >= {"PAUSE\\xff", "bad\\nname\\x1b[31m", "\\xc3("}
            )
        )
        assert shown
        assert bot.status()["trading_state"] == "ACTIVE"
        bot.touch("PAUSE")
        eventually(lambda: bot.status()["trading_state"] == "PAUSED")
        os.unlink(home / "controls" / "PAUSE")
    finally:
        bot.stop()
    assert bot.proc is not None
    assert bot.proc.returncode == 0


# ---------------------------------------------------------------------------------------
# 7 odd shapes: one line, exit 2, nothing traded


def _shape(home: Path, case: str) -> None:
    if case == "state is a file":
        (home / "state").write_text("")
    elif case == "logs is a file":
        (home / "logs").write_text("")
    elif case == "bot.lock is a folder":
        (home / "state" / "bot.lock").mkdir(parents=True)
    elif case == "bot.log is a folder":
        (home / "logs" / "bot.log").mkdir(parents=True)
    elif case == "bot.toml is a dangling link":
        (home / "bot.toml").symlink_to(home / "settings-that-were-moved.toml")
    elif case == "bot.toml is a folder":
        (home / "bot.toml").mkdir()


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("state is a file", "state: is a regular file, but state/ must be a folder"),
        ("logs is a file", "logs: is a regular file, but logs/ must be a folder"),
        ("bot.lock is a folder", "bot.lock: is a directory, not a regular file"),
        ("bot.log is a folder", "bot.log: is a directory, not a regular file"),
        ("bot.toml is a dangling link", "bot.toml: dangling symbolic link"),
        ("bot.toml is a folder", "bot.toml: is a directory, not a regular file"),
    ],
)
def test_odd_shapes_in_the_home_exit_2_with_one_line(tmp_path: Path, case: str, needle: str) -> None:
    _shape(tmp_path, case)
    result = run_bot(tmp_path)
    assert_one_line_exit(result, 2, needle)
    assert nothing_traded(tmp_path)


DEEP = "x = " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize(
    ("toml", "args", "needle"),
    [
        (DEEP, (), "nested too deep"),
        (
            "[strategies]\nenabled = ['os:system']\n",
            (),
            "'os:system' is a builtin_function_or_method, not a class",
        ),
        ("[strategies]\nenabled = ['subprocess:Popen']\n", (), "is a class without evaluate"),
        ("[strategies]\nenabled = ['os.path:sep']\n", (), "is a str, not a class"),
        ("speed = 1e308\n", (), "speed: 1e+308 is too large"),
        ("[risk]\nmax_open_orders = 9223372036854775808\n", (), "risk.max_open_orders: 9223372036854775808"),
        ("[paper]\nstarting_balance = 1e15\n", (), "paper.starting_balance"),
        ("[market]\nseed = 9223372036854775807\n", (), "market.seed"),
        ("heartbeat_s = 1e300\n", (), "heartbeat_s"),
        ("", ("--speed", "1e308"), "speed: 1e+308 is too large"),
        ("speed = -1\n", ("--speed", "2"), "speed: must be greater than 0"),  # the flag hides nothing
        ("speed = 'fast'\n", ("--speed", "2"), "speed: expected a number"),
    ],
)
def test_bad_settings_exit_2_naming_the_key(
    tmp_path: Path, toml: str, args: tuple[str, ...], needle: str
) -> None:
    (tmp_path / "bot.toml").write_text(toml)
    result = run_bot(tmp_path, *args)
    assert_one_line_exit(result, 2, needle)
    assert nothing_traded(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: permissions cannot be tested")
def test_an_unreadable_bot_toml_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(FAST_CONFIG)
    path.chmod(0)
    result = run_bot(tmp_path)
    assert_one_line_exit(result, 2, "bot.toml", "Permission denied")


# ---------------------------------------------------------------------------------------
# 8 controls read only what they are; a rejection never echoes the content


def test_adjust_risk_is_read_only_inside_controls_and_never_echoed(bot: BotProcess, tmp_path: Path) -> None:
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("3 SECRET-OUTSIDE-CONTENT")
    bot.start().wait_ready()
    controls = bot.home / "controls"
    os.symlink(secret, controls / "ADJUST_RISK")
    eventually(lambda: (controls / "ADJUST_RISK.rejected").exists())
    assert "outside controls/" in (controls / "ADJUST_RISK.rejected").read_text()
    assert secret.exists()  # the link was set aside, its target left alone
    # junk inside controls/: rejected with a short printable excerpt, nothing more
    junk = b"{" + b"\x00\x1b[2J" * 3000 + b"JUNK-TAIL-MARKER"
    (controls / "ADJUST_RISK.txt").write_bytes(junk)
    eventually(lambda: (controls / "ADJUST_RISK.txt.rejected").exists())
    note = (controls / "ADJUST_RISK.txt.rejected").read_text()
    assert len(note) < 600
    assert "\x00" not in note
    assert "\x1b" not in note
    bot.touch("PAUSE")
    eventually(lambda: bot.status()["trading_state"] == "PAUSED")
    bot.stop()
    files = [journal_text(bot.home)]
    files += [p.read_text(errors="replace") for p in (bot.home / "state").glob("*.json")]
    files += [p.read_text(errors="replace") for p in (bot.home / "logs").glob("*.jsonl")]
    for text in files:
        assert "SECRET-OUTSIDE-CONTENT" not in text
        assert "JUNK-TAIL-MARKER" not in text
        assert "\x00" not in text


# ---------------------------------------------------------------------------------------
# 9 strategy loading runs no code but the class


def test_a_strategy_entry_that_is_a_function_is_never_called(tmp_path: Path) -> None:
    marker = tmp_path / "called"
    (tmp_path / "sneaky_strategies.py").write_text(
        "from pathlib import Path\n"
        f"def build(**kwargs):\n    Path({str(marker)!r}).write_text('called')\n"
        "class NoEvaluate:\n    name = 'x'\n"
        f"    def __init__(self):\n        Path({str(marker)!r}).write_text('constructed')\n"
    )
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for entry, needle in (
        ("sneaky_strategies:build", "is a function, not a class"),
        ("sneaky_strategies:NoEvaluate", "is a class without evaluate"),
        ("sneaky_strategies:Missing", "cannot load"),
        ("no_such_module_here:X", "cannot load"),
    ):
        (tmp_path / "bot.toml").write_text(f"[strategies]\nenabled = [{entry!r}]\n")
        result = run_bot(tmp_path, env=env)
        assert_one_line_exit(result, 2, "strategies.enabled", repr(entry), needle)
        assert not marker.exists(), entry
        assert nothing_traded(tmp_path)


# ---------------------------------------------------------------------------------------
# 10 backtest inputs: a crossed book is a malformed line with its line number


def _small_tape(folder: Path, crossed_at: int | None = None) -> Path:
    """A tape of one market: the header (line 1), its open (line 2), ten books (lines 3 to
    12; the `crossed_at`-th, from 0, crossed), its resolution."""
    t0 = 1_763_780_000_000
    market = Market("m1", "BTC", "BTC up?", t0, t0 + 300_000, 97_000.0)
    tape = folder / "t.jsonl.gz"
    with TapeWriter(tape, source="test") as writer:
        writer.write(WindowOpened(t0, market))
        for i in range(10):
            bid, ask = (600_000, 500_000) if i == crossed_at else (480_000, 500_000)
            writer.write(BookTick(t0 + 1000 * i, "m1", bid, 50 * ONE, ask, 50 * ONE))
        writer.write(WindowResolved(t0 + 300_000, "m1", O.UP))
    return tape


def test_a_crossed_book_in_a_tape_is_a_malformed_line(tmp_path: Path) -> None:
    tape = _small_tape(tmp_path, crossed_at=4)  # line 7
    out = tmp_path / "out"
    result = bot_cli("backtest", str(tape), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    data = read_json(out / "summary.json")["data"]
    assert data["malformed_total"] == 1
    assert data["malformed_first"] == [[7, "crossed book: bid 600000 >= ask 500000"]]
    assert data["events_dropped"] == 0
    assert data["dropped_first"] == []


def test_huge_numbers_in_backtest_inputs_are_malformed_rows_or_one_line_errors(tmp_path: Path) -> None:
    csv = tmp_path / "h.csv"
    csv.write_text(
        "timestamp,market_id,best_bid,best_ask,bid_size,ask_size,window_end,outcome\n"
        "1763780000,m,0.48,0.50,1e30,5,1763780300,UP\n"
        "1763780001,m,0.48,0.50,5,5,1763780300,UP\n"
        f"1763780002,m,0.48,0.50,5,{2**64},1763780300,UP\n"
        "1763780003,m,0.48,0.50,5,5,1763780300,UP\n"
    )
    out = tmp_path / "out"
    result = bot_cli("backtest", str(csv), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    data = read_json(out / "summary.json")["data"]
    assert [line for line, _ in data["malformed_first"]] == [2, 4]
    result = bot_cli("backtest", str(csv), "--out", str(tmp_path / "o2"), "--option", f"fee_rate_ppm={2**64}")
    assert_one_line_exit(result, 2, "fee_rate_ppm", "expected an integer from 0 to 1000000")
    # a tape whose market is opened with a fee no market has: a malformed line, not an overflow
    tape = tmp_path / "fees.jsonl.gz"
    t0 = 1_763_780_000_000
    with TapeWriter(tape, source="test") as writer:
        writer.write(WindowOpened(t0, Market("m9", "BTC", "x", t0, t0 + 60_000, fee_rate_ppm=2**62)))
        writer.write(WindowOpened(t0, Market("m1", "BTC", "x", t0, t0 + 60_000)))
        writer.write(BookTick(t0, "m1", 480_000, 50 * ONE, 500_000, 50 * ONE))
    result = bot_cli("backtest", str(tape), "--out", str(tmp_path / "o3"), "--quiet")
    assert result.returncode == 0, result.stderr
    data = read_json(tmp_path / "o3" / "summary.json")["data"]
    assert data["malformed_first"] == [[2, "open for 'm9' has a time, tick, size or fee out of range"]]


# ---------------------------------------------------------------------------------------
# stale temporary files of a killed run


def test_stale_temporary_files_of_dead_processes_are_removed_at_start(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    state = tmp_path / "state"
    state.mkdir()
    stale = state / f".status.json.{dead_pid}.tmp"
    live = state / f".status.json.{os.getpid()}.tmp"  # this test process is running
    stale.write_text("{")
    live.write_text("{")
    bot = BotProcess(tmp_path).start()
    try:
        bot.wait_ready()
        assert not stale.exists()
        assert live.exists()
    finally:
        bot.stop()


def test_huge_numbers_on_the_command_line_are_usage_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"  # a home with a journal: the numbers would reach SQLite
    result = bot_cli("backtest", str(_small_tape(tmp_path)), "--out", str(home), "--quiet")
    assert result.returncode == 0, result.stderr
    huge = str(2**64)
    for args in (("trades", "--limit", huge), ("compare", huge)):
        result = bot_cli(*args, "--home", str(home))
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert "OverflowError" not in result.stderr
    result = bot_cli("run", "--speed", "1e308", "--home", str(tmp_path / "fresh"))
    assert_one_line_exit(result, 2, "speed: 1e+308 is too large")
    assert nothing_traded(tmp_path / "fresh")
