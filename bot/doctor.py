"""`bot doctor`: check a home for what would stop a bot from running for days, and say the fix.

Everything is checked offline, from this machine alone:

- the folder: a bot home (or one `bot run` can create), writable by this user, and
  `controls/` not writable by other users (anyone who can write there can stop the bot);
- disk: free space where the journal and logs grow, and how big they are;
- the clock: whether the kernel considers it synchronised (adjtimex: STA_UNSYNC and its
  maximum error), and that it has not gone back behind the journal's last wall-clock
  time. Skew against the venue itself cannot be measured without the network;
- the settings: `bot.toml` loads and names only known strategies (as `bot run` would), and
  each environment variable `[alerts]` names is set;
- the lock and the pid: is a bot running, did the last one die without a final state,
  is its heartbeat late;
- controls: EMERGENCY_STOP present (a start is refused), HALTED, rejected or unknown files;
- the journal: `PRAGMA quick_check` read-only, and readable state files.

Exit 0 when nothing FAILs (warnings allowed), 1 otherwise. Never writes anything.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sqlite3
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bot import home as homes
from bot import queries, reader
from bot.layout import FOLDERS, LOGS, SCHEMA_VERSION, STATE, STATUS, Paths, newer_schema

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_FREE = 200 * 1024 * 1024  # below this: FAIL
LOW_FREE = 2 * 1024 * 1024 * 1024  # below this: WARN
STA_UNSYNC = 0x0040
TIME_ERROR = 5


@dataclass
class Finding:
    level: str
    check: str
    detail: str
    fix: str = ""


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MB"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def check_folder(home: Path) -> list[Finding]:
    if not home.exists():
        return [
            Finding(FAIL, "home", f"{home} does not exist", f"mkdir -p {home} (or pass the right --home)")
        ]
    if not home.is_dir():
        return [Finding(FAIL, "home", f"{home} is not a folder", "pass the bot's folder with --home")]
    out = []
    if homes.is_home(home):
        out.append(Finding(OK, "home", f"{home.resolve()} is a bot home"))
    else:
        out.append(Finding(WARN, "home", f"{home.resolve()} is not a bot home yet", f"bot run --home {home}"))
    for name in ("", *FOLDERS):
        folder = home / name
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            out.append(
                Finding(
                    FAIL, "permissions", f"{folder} is not writable by this user", f"chown -R $USER {folder}"
                )
            )
    controls = Paths(home).controls
    if controls.is_dir() and controls.stat().st_mode & stat.S_IWOTH:
        out.append(
            Finding(
                WARN,
                "permissions",
                f"{controls} is writable by every user: anyone here can pause, flatten or stop the bot",
                f"chmod o-w {controls}",
            )
        )
    config = home / "bot.toml"
    if config.is_file() and config.stat().st_mode & stat.S_IWOTH:
        out.append(Finding(WARN, "permissions", f"{config} is writable by every user", f"chmod o-w {config}"))
    if len(out) == 1:
        out.append(Finding(OK, "permissions", "home, state/, controls/ and logs/ writable by this user"))
    return out


def check_disk(home: Path) -> list[Finding]:
    where = home if home.exists() else home.parent
    usage = shutil.disk_usage(where)
    sizes = {name: _size(home / name) for name in (STATE, LOGS)}
    used = f"journal and state {_mb(sizes[STATE])}, logs and tapes {_mb(sizes[LOGS])}"
    if usage.free < MIN_FREE:
        fix = "free space, or move old logs/tapes/ elsewhere (the journal must stay)"
        return [Finding(FAIL, "disk", f"only {_mb(usage.free)} free ({used})", fix)]
    if usage.free < LOW_FREE:
        fix = "plan for more space: logs/ and logs/tapes/ grow every day"
        return [Finding(WARN, "disk", f"{_mb(usage.free)} free ({used})", fix)]
    return [Finding(OK, "disk", f"{_mb(usage.free)} free ({used})")]


def kernel_clock() -> tuple[bool, float] | None:
    """(synchronised, maximum error in seconds) from adjtimex(2), read-only; None if unknown."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(512)  # struct timex, modes = 0: only read
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    maxerror_us = ctypes.c_long.from_buffer(buf, 24).value
    status = ctypes.c_int.from_buffer(buf, 40).value
    return state != TIME_ERROR and not status & STA_UNSYNC, maxerror_us / 1e6


def check_clock(home: Path) -> list[Finding]:
    out = []
    kernel = kernel_clock()
    if kernel is None:
        out.append(Finding(WARN, "clock", "cannot ask the kernel whether the clock is synchronised"))
    elif kernel[0]:
        out.append(Finding(OK, "clock", f"synchronised (maximum error {kernel[1]:g} s)"))
    else:
        out.append(
            Finding(
                WARN,
                "clock",
                f"the kernel says the clock is not synchronised (maximum error {kernel[1]:g} s);"
                " order expiries and the market windows follow this clock",
                "enable NTP: timedatectl set-ntp true (or chrony)",
            )
        )
    last = _last_wall_ms(home)
    if last is not None and last > time.time() * 1000 + 5000:
        ahead = (last - time.time() * 1000) / 1000
        out.append(
            Finding(
                FAIL,
                "clock",
                f"the clock is {ahead:,.0f} s behind the journal's last wall-clock time: it went back",
                "set the clock right before starting the bot",
            )
        )
    return out


def _last_wall_ms(home: Path) -> int | None:
    db = Paths(home).journal
    if not db.is_file():
        return None
    try:
        conn = queries.open_readonly(db, timeout=2)
        try:
            value = queries.last_wall_ms(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(value) if value else None


def check_config(home: Path) -> list[Finding]:
    from bot.config import ConfigError, load_config
    from bot.strategies import build_strategies

    path = home / "bot.toml"
    try:
        config = load_config(path if path.is_file() else None)
        build_strategies(config.strategies.enabled, config.strategies.params)
    except (ConfigError, ImportError, ValueError, TypeError) as exc:
        said = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"  # the path once
        return [Finding(FAIL, "config", said, "fix the key named; `bot run` would exit 2")]
    where = str(path) if path.is_file() else "no bot.toml: every setting at its default"
    if config.polymarket.series:  # which coins and timeframes exist: as `bot run` checks them
        from bot.markets.series import DiscoveryError, parse_series_list

        try:
            parse_series_list(list(config.polymarket.series))
        except DiscoveryError as exc:
            return [Finding(FAIL, "config", f"{path}: polymarket.series: {exc}", "`bot run` would exit 2")]
    out = [Finding(OK, "config", f"{where}; strategies {', '.join(config.strategies.enabled)}")]
    if (config.polymarket.markets or config.polymarket.series) and not os.environ.get(
        "POLYMARKET_PRIVATE_KEY"
    ):
        out.append(
            Finding(
                WARN,
                "config",
                "[polymarket] markets or series are set but POLYMARKET_PRIVATE_KEY is not in this"
                " environment",
                "set it where the bot runs (e.g. the systemd EnvironmentFile), never in bot.toml",
            )
        )
    for key, env in config.alerts.variables():
        if not os.environ.get(env, "").strip():
            out.append(
                Finding(
                    WARN,
                    "alerts",
                    f"{key} names ${env}, which is not set in this environment: those alerts are off",
                    f"set {env} where the bot runs (e.g. the systemd EnvironmentFile), never in bot.toml",
                )
            )
    return out


def check_process(home: Path) -> list[Finding]:
    bot = homes.running(home)
    status = homes.read_json(Paths(home).state / STATUS)
    if bot.pid is not None:
        liveness, why = reader.judge(status)
        if liveness == "STALE":
            return [
                Finding(
                    FAIL,
                    "process",
                    f"pid {bot.pid} runs but its heartbeat is late: {why}",
                    "see logs/bot.log",
                )
            ]
        return [Finding(OK, "process", f"a bot is running: pid {bot.pid}")]
    if status and status.get("is_alive"):
        return [
            Finding(
                WARN,
                "process",
                f"the last bot (pid {status.get('pid')}) died without a final state (crash or kill -9)",
                "bot run: it recovers its orders and positions from the journal",
            )
        ]
    return [Finding(OK, "process", f"no bot running: {bot.why}")]


def check_controls(home: Path) -> list[Finding]:
    from bot.controls import Control, control_for

    out = []
    try:
        names = sorted(os.listdir(Paths(home).controls))
    except OSError:
        names = []
    for name in names:
        if name.startswith(".") or name == "README.md":
            continue
        control = control_for(name)
        if control is Control.EMERGENCY_STOP:
            out.append(
                Finding(
                    WARN,
                    "controls",
                    f"controls/{name} is present: `bot run` refuses to start (exit 3)",
                    "check `bot status`, then `bot resume --clear-emergency`",
                )
            )
        elif control is not None:
            out.append(Finding(OK, "controls", f"controls/{name} present"))
        elif name.endswith(".rejected"):
            out.append(
                Finding(
                    WARN,
                    "controls",
                    f"controls/{name}: a rejected ADJUST_RISK",
                    "read it, then rm it",
                )
            )
        else:
            out.append(
                Finding(
                    WARN,
                    "controls",
                    f"controls/{name} is not a control file",
                    f"rm {Paths(home).control(name)}",
                )
            )
    status = homes.read_json(Paths(home).state / STATUS) or {}
    halted = (status.get("risk") or {}).get("halted")
    if halted:
        out.append(Finding(WARN, "controls", f"HALTED: {halted}", "look at the reason, then `bot reset`"))
    return out or [Finding(OK, "controls", "none present")]


def check_files(home: Path) -> list[Finding]:
    out = []
    for name in reader.STATE_FILES:
        path = Paths(home).state / name
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                out.append(
                    Finding(
                        FAIL, "state files", f"state/{name}: {exc}", "bot run rewrites it from the journal"
                    )
                )
                continue
            newer = newer_schema(data)
            if newer is not None:
                out.append(
                    Finding(
                        WARN,
                        "state files",
                        f"state/{name} has schema_version {newer}, newer than this touchtrader reads"
                        f" ({SCHEMA_VERSION})",
                        "upgrade touchtrader",
                    )
                )
    db = Paths(home).journal
    if not db.is_file():
        return out
    try:
        conn = queries.open_readonly(db)
        try:
            result = queries.quick_check(conn)
            version = queries.journal_schema(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [*out, Finding(FAIL, "journal", f"state/bot.db: {exc}", "restore it from a backup")]
    if result != "ok":
        return [
            *out,
            Finding(FAIL, "journal", f"state/bot.db quick_check: {result}", "restore it from a backup"),
        ]
    schema = version or "?"
    return [
        *out,
        Finding(
            OK, "journal", f"state/bot.db passes quick_check (schema {schema}, {_mb(db.stat().st_size)})"
        ),
    ]


CHECKS = (check_folder, check_disk, check_clock, check_config, check_process, check_controls, check_files)


def diagnose(home: Path) -> list[Finding]:
    findings = check_folder(home)
    if any(f.level == FAIL and f.check == "home" for f in findings):
        return findings
    for check in CHECKS[1:]:
        findings += check(home)
    return findings


def render(home: Path, findings: list[Finding]) -> str:
    lines = [f"bot doctor: {home.resolve()}"]
    for f in findings:
        lines.append(f"  {f.level:<5} {f.check}: {f.detail}")
        if f.fix and f.level != OK:
            lines.append(f"        fix: {f.fix}")
    fails = sum(f.level == FAIL for f in findings)
    warns = sum(f.level == WARN for f in findings)
    lines.append(f"{fails} to fix, {warns} to look at" if fails or warns else "all good")
    return "\n".join(lines)


def as_json(findings: list[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2)


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.level == FAIL for f in findings) else 0
