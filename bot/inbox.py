"""The inbox's files: what `ls inbox/` holds, read safely, validated, and answered.

An agent, a person or a script hands the bot a forecast or an order intent by writing a
JSON file under a temporary name (dot-prefixed or ending in `.tmp`) and renaming it to
`inbox/NAME.json`; inbox/README.md documents both kinds. This module lists the folder
(oldest first, temporary names skipped), reads each file without ever blocking
(bot/safefile.py, `MAX_BYTES`), refuses to read one still changing, parses and validates
it into a `Forecast` or an `OrderIntent` (`parse`), and writes the answer: the file moves to
`inbox/done/` with `NAME.accepted.json` or `NAME.rejected.json` beside it (`settle`).
A new home gets a short inbox/README.md (`write_readme`); an `inbox/done` that is not a
folder holds every file back, untouched (`done_problem`).
What the bot does with an accepted file is bot/intake.py's.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bot import layout
from bot.errors import BotError
from bot.forecasts import Forecast
from bot.model import ONE, Micros, OrderType, Outcome, iso, to_micros
from bot.safefile import FileRefused, kind, printable, read_small, replace_small

MAX_BYTES = 16 * 1024  # an inbox file is a few hundred bytes; anything larger is refused
PER_CYCLE = 20  # files handled per look; the rest wait for the next (nothing is lost)
SETTLE_MS = 1_000  # a file that is not whole JSON yet, modified this recently, may be being written
MAX_TEXT = 500  # characters of `note` and `reason`
MAX_SOURCE = 100
ACK_VERSION = 1

FORECAST = "forecast"
ORDER = "order"
COMMON_KEYS = ("kind", "market", "source")
FORECAST_KEYS = (*COMMON_KEYS, "probability", "outcome", "valid_until", "note")
ORDER_KEYS = (
    *COMMON_KEYS,
    "outcome",
    "side",
    "usd",
    "shares",
    "limit_price",
    "time_in_force",
    "ttl_s",
    "reason",
)


README = f"""\
# inbox/: hand the bot a forecast or an order intent

Drop a JSON file here as NAME.json; the bot reads it within a moment, validates it, records
it in its journal and answers: the file moves to inbox/done/ with NAME.accepted.json or
NAME.rejected.json (the reason, in one line) beside it. Write the file under a temporary
name (.NAME.tmp) and rename it to NAME.json, so the bot never reads half a file. Use a new
NAME each time. At most {PER_CYCLE} files are handled per look; the rest wait, none is lost.

A forecast, the probability that an outcome happens (every strategy sees the live ones):
    {{"kind": "forecast", "market": "BTC", "probability": 0.62,
     "valid_until": "2026-12-03T03:00:00Z", "source": "my-agent"}}
  keys: {", ".join(FORECAST_KEYS)}

An order intent, a buy that goes through every risk limit, PAUSE and HALTED:
    {{"kind": "order", "market": "BTC", "outcome": "UP", "usd": 2.0,
     "limit_price": 0.55, "source": "my-agent"}}
  keys: {", ".join(ORDER_KEYS)}

`market` is a market id, a token id, its name, or an instrument (BTC: its window open now).
The full rules: `bot schema inbox_forecast`, `bot schema inbox_order`, `bot schema inbox_ack`
(the answer), and inbox/README.md of the touchtrader repository. From Python,
bot.inbox_client.submit(home, item) writes, renames and waits for the answer; `bot mcp` offers
the tools submit_forecast, submit_order and inbox_answers.
"""


class InboxRejected(BotError, ValueError):
    """An inbox file that cannot be accepted; str() is the reason, one line."""


@dataclass(frozen=True, slots=True)
class OrderIntent:
    market_id: str
    outcome: Outcome
    price: Micros  # the limit price
    shares: Micros | None  # exactly one of shares and usd
    usd: Micros | None
    order_type: OrderType
    ttl_s: int | None
    source: str
    reason: str
    file: str

    def size_at(self, price: Micros) -> Micros:
        """Shares to buy: as given, or what `usd` buys at `price` (whole hundredths)."""
        if self.shares is not None:
            return self.shares
        shares = (self.usd or 0) * ONE // price
        return shares - shares % 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One file waiting in inbox/: its name and what was read (or why it was not)."""

    name: str
    data: bytes = b""
    refused: str = ""  # the file cannot be used at all (a directory, too large, not .json)
    waiting: str = ""  # not read now (still being written): looked at again later
    mtime_ms: int = 0


def is_temporary(name: str) -> bool:
    """A name still being written (write to it, then rename): never read."""
    return name.startswith(".") or name.endswith(layout.INBOX_TEMP_SUFFIX)


def write_readme(folder: Path) -> bool:
    """Put README into `folder` (inbox/) unless it has one (an operator's own, or the
    repository's longer one, is kept); True when written."""
    path = folder / layout.INBOX_README
    if os.path.lexists(path):
        return False
    replace_small(path, README.encode("utf-8"))
    return True


def done_problem(done: Path) -> str:
    """Why `done` (inbox/done) cannot take answers, in one line; "" when it can or is not there
    yet (it is created then). While it cannot, every file in inbox/ waits, untouched."""
    try:
        st = os.stat(done)
    except FileNotFoundError:
        if not os.path.lexists(done):
            return ""
        what = "a dangling symbolic link"
    except OSError as exc:
        what = f"not usable ({exc.strerror})"
    else:
        if stat.S_ISDIR(st.st_mode):
            return ""
        what = kind(st.st_mode)
    aside = done.parent.parent / f"{done.parent.name}-{done.name}.old"  # out of inbox/: not read
    return (
        f"{done} is {what}, not a folder: the files in inbox/ wait, untouched, until it is moved"
        f" out of inbox/ (mv {done} {aside}); then they are answered"
    )


def pending(folder: Path, now_ms: int, limit: int = PER_CYCLE) -> tuple[list[Entry], int]:
    """Up to `limit` files of `folder`, oldest first, and how many more are waiting."""
    found = _listing(folder)
    out = [read_entry(folder, name, now_ms) for _, name in found[:limit]]
    return out, max(0, len(found) - limit)


def count(folder: Path) -> int:
    """How many files wait in `folder`, none of them read."""
    return len(_listing(folder))


def _listing(folder: Path) -> list[tuple[int, str]]:
    """(mtime, name) of each file to read in `folder`, oldest first."""
    try:
        listing = list(os.scandir(folder))
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        return []
    except OSError:
        return []
    found: list[tuple[int, str]] = []
    for entry in listing:
        name = entry.name
        if name in layout.INBOX_IGNORED or is_temporary(name):
            continue
        try:
            found.append((entry.stat(follow_symlinks=False).st_mtime_ns, name))
        except OSError:
            continue  # taken away meanwhile
    found.sort()
    return found


def read_entry(folder: Path, name: str, now_ms: int) -> Entry:
    """Read inbox/NAME if it is a whole, settled, small regular file."""
    path = folder / name
    if printable(name, limit=4 * len(name) + 8) != name:
        return Entry(name, refused="the name is not printable UTF-8: use letters, digits, - and _")
    if not name.endswith(layout.INBOX_SUFFIX):
        return Entry(name, refused=f"not a {layout.INBOX_SUFFIX} file: name inbox files NAME.json")
    try:
        before = os.lstat(path)
    except OSError:
        return Entry(name, waiting="removed while being read")
    if stat.S_ISLNK(before.st_mode):
        return Entry(name, refused="a symbolic link: write the file itself into inbox/")
    if before.st_size > MAX_BYTES:
        return Entry(name, refused=f"{before.st_size} bytes, larger than the {MAX_BYTES} allowed")
    try:
        data = read_small(path, MAX_BYTES, follow=False)
        after = os.lstat(path)
    except FileRefused as exc:
        return Entry(name, refused=str(exc))
    except OSError:
        return Entry(name, waiting="removed while being read")
    mtime_ms = after.st_mtime_ns // 1_000_000
    same = (before.st_ino, before.st_size, before.st_mtime_ns) == (
        after.st_ino,
        after.st_size,
        after.st_mtime_ns,
    )
    if not same or len(data) != after.st_size:
        return Entry(
            name, waiting="still changing (write to a temporary name, then rename)", mtime_ms=mtime_ms
        )
    return Entry(name, data=data, mtime_ms=mtime_ms)


def decode(entry: Entry, now_ms: int) -> dict[str, Any] | None:
    """The file's JSON object; None while it may still be being written; InboxRejected when bad."""
    data = entry.data
    if b"\x00" in data:
        raise InboxRejected("a binary file (NUL bytes), not JSON")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InboxRejected("not UTF-8 text, not JSON") from None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if now_ms - entry.mtime_ms < SETTLE_MS:
            return None  # perhaps written in place and not finished: look again shortly
        raise InboxRejected(f"not valid JSON: {str(exc).splitlines()[0]}"[:200]) from None
    if not isinstance(value, dict):
        raise InboxRejected(f"expected a JSON object, found {_json_type(value)}")
    return value


def parse(
    data: dict[str, Any], file: str, now_ms: int, resolve: Callable[[str], str | None]
) -> Forecast | OrderIntent:
    """A validated forecast or order intent; InboxRejected with the first problem.

    `resolve` turns the `market` reference into a market id the bot watches (None: unknown).
    """
    kind = data.get("kind")
    if kind not in (FORECAST, ORDER):
        shown = "missing" if kind is None else repr(kind)[:60]
        raise InboxRejected(f'kind is {shown}: expected "{FORECAST}" or "{ORDER}"')
    known = FORECAST_KEYS if kind == FORECAST else ORDER_KEYS
    unknown = sorted(set(data) - set(known))
    if unknown:
        names = ", ".join(repr(printable(str(k), 40)) for k in unknown[:5])
        raise InboxRejected(f"unknown key(s) {names} for a {kind}; known: {', '.join(known)}")
    source = _text(data, "source", MAX_SOURCE, required=True)
    reference = _text(data, "market", 200, required=True)
    market_id = resolve(reference)
    if market_id is None:
        raise InboxRejected(f"unknown market {reference!r}: not a market the bot watches now")
    if kind == FORECAST:
        return _forecast(data, market_id, source, file, now_ms)
    return _order(data, market_id, source, file)


def _forecast(data: dict[str, Any], market_id: str, source: str, file: str, now_ms: int) -> Forecast:
    probability = _number(data, "probability", required=True)
    assert probability is not None
    if not 0 <= probability <= 1:
        raise InboxRejected(f"probability {probability:g} is outside [0, 1]")
    outcome = _outcome(data, default=Outcome.UP)
    p = to_micros(round(probability, 6))
    valid_until = _time(data, "valid_until")
    if valid_until <= now_ms:
        raise InboxRejected(f"expired: valid_until {iso(valid_until)} is not after now ({iso(now_ms)})")
    return Forecast(
        market_id=market_id,
        p_up=p if outcome is Outcome.UP else ONE - p,
        valid_until_ms=valid_until,
        source=source,
        note=_text(data, "note", MAX_TEXT),
        received_ms=now_ms,
        file=file,
    )


def _order(data: dict[str, Any], market_id: str, source: str, file: str) -> OrderIntent:
    side = _text(data, "side", 10) or "BUY"
    if side.upper() != "BUY":
        raise InboxRejected(f"side {side!r}: an intent can only BUY (exits and FLATTEN sell)")
    outcome = _outcome(data, default=None)
    price = _micros(data, "limit_price", required=True)
    assert price is not None
    if not 0 < price < ONE:
        raise InboxRejected(f"limit_price {price / ONE:g} is outside (0, 1)")
    usd = _micros(data, "usd")
    shares = _micros(data, "shares")
    if (usd is None) == (shares is None):
        raise InboxRejected("give exactly one of usd and shares")
    if (usd if usd is not None else shares or 0) <= 0:
        raise InboxRejected(f"{'usd' if usd is not None else 'shares'} must be more than 0")
    if shares is not None and shares % 10_000:
        raise InboxRejected(f"shares {shares / ONE:g}: at most two decimals (hundredths of a share)")
    tif = _text(data, "time_in_force", 10) or OrderType.GTC.value
    try:
        order_type = OrderType(tif.upper())
    except ValueError:
        raise InboxRejected(f"time_in_force {tif!r}: expected one of GTC, GTD, FOK, FAK") from None
    ttl = _number(data, "ttl_s")
    if ttl is not None and (ttl != int(ttl) or not 0 < ttl <= 86_400):
        raise InboxRejected(f"ttl_s {ttl:g}: expected whole seconds from 1 to 86400")
    if order_type is OrderType.GTD and ttl is None:
        raise InboxRejected("time_in_force GTD needs ttl_s")
    return OrderIntent(
        market_id=market_id,
        outcome=outcome,
        price=price,
        shares=shares,
        usd=usd,
        order_type=order_type,
        ttl_s=int(ttl) if ttl is not None else None,
        source=source,
        reason=_text(data, "reason", MAX_TEXT),
        file=file,
    )


# -- field readers ---------------------------------------------------------------------


def _json_type(value: Any) -> str:
    names = {str: "a string", list: "an array", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _text(data: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise InboxRejected(f"{key} is missing")
        return ""
    if not isinstance(value, str):
        raise InboxRejected(f"{key} must be a string, found {_json_type(value)}")
    value = value.strip()
    if required and not value:
        raise InboxRejected(f"{key} is empty")
    if len(value) > limit:
        raise InboxRejected(f"{key} is {len(value)} characters long, at most {limit} allowed")
    if limit <= MAX_SOURCE * 2 and not value.isprintable():  # a name or a word: one plain line
        raise InboxRejected(f"{key} {printable(value, 60)!r} has control characters")
    return value


def _number(data: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InboxRejected(f"{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InboxRejected(f"{key} must be a number, found {_json_type(value)}")
    if not math.isfinite(value):
        raise InboxRejected(f"{key} must be a finite number")
    return float(value)


def _micros(data: dict[str, Any], key: str, *, required: bool = False) -> Micros | None:
    value = _number(data, key, required=required)
    if value is None:
        return None
    try:
        return to_micros(data[key])
    except ValueError:
        raise InboxRejected(f"{key} {data[key]!r}: at most six decimals") from None


def _outcome(data: dict[str, Any], default: Outcome | None) -> Outcome:
    text = _text(data, "outcome", 10)
    if not text:
        if default is None:
            raise InboxRejected("outcome is missing: UP or DOWN")
        return default
    try:
        return Outcome(text.upper())
    except ValueError:
        raise InboxRejected(f"outcome {text!r}: expected UP or DOWN") from None


def _time(data: dict[str, Any], key: str) -> int:
    """An ISO-8601 time with its zone (`2026-12-03T02:00:00Z`), or Unix epoch seconds."""
    value = data.get(key)
    if value is None:
        raise InboxRejected(f"{key} is missing")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or not 0 < value < 1e11:
            raise InboxRejected(f"{key} {value!r}: expected Unix epoch seconds")
        return round(value * 1000)
    if not isinstance(value, str):
        raise InboxRejected(f"{key} must be an ISO-8601 time or epoch seconds, found {_json_type(value)}")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InboxRejected(f"{key} {value[:40]!r}: not an ISO-8601 time") from None
    if when.tzinfo is None:
        raise InboxRejected(f"{key} {value[:40]!r} has no time zone: end it with Z (UTC)")
    return round(when.timestamp() * 1000)


# -- the answer ------------------------------------------------------------------------


def settle(folder: Path, done: Path, name: str, answer: dict[str, Any]) -> str:
    """Move inbox/NAME into done/ and write its acknowledgement beside it; return the stem
    used (NAME without .json, with `~N` added when done/ already holds that stem)."""
    done.mkdir(parents=True, exist_ok=True)
    stem = name.removesuffix(layout.INBOX_SUFFIX)
    suffix = name[len(stem) :]
    used = stem
    n = 1
    while any(
        os.path.lexists(done / f) for f in (used + suffix, *(layout.ack_name(used, a) for a in (True, False)))
    ):
        n += 1
        used = f"{stem}~{n}"
    moved = used + suffix
    with contextlib.suppress(FileNotFoundError):  # someone took it back meanwhile
        _move(folder / name, done / moved)
    answer = {**answer, "stored_as": f"{layout.INBOX}/{layout.INBOX_DONE}/{printable(moved)}"}
    replace_small(done / layout.ack_name(used, answer["result"] == "accepted"), orjson.dumps(answer))
    return used


def _move(source: Path, target: Path) -> None:
    """Link, then unlink, rather than rename: inotify reports a rename out of the watched
    folder as an unpaired move, which watchdog holds back half a second for a partner, and
    every later event waits behind it; an unlink is reported at once."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:
        raise
    except OSError:  # no hard links here (another file system, a directory): rename
        os.rename(source, target)
        return
    os.unlink(source)


def answer(
    *,
    file: str,
    kind: str,
    accepted: bool,
    reason: str,
    source: str,
    market_id: str,
    inbox_id: int,
    received_ms: int,
    answered_ms: int,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The acknowledgement's fields (bot/schemas/inbox_ack.json)."""
    return {
        "schema_version": ACK_VERSION,
        "file": file,
        "kind": kind or None,
        "result": "accepted" if accepted else "rejected",
        "reason": reason,
        "source": source or None,
        "market_id": market_id or None,
        "inbox_id": inbox_id,
        "received_at": iso(received_ms),
        "received_epoch_s": received_ms / 1000,
        "answered_at": iso(answered_ms),
        "answered_epoch_s": answered_ms / 1000,
        **(detail or {}),
    }
