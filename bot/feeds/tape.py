"""The tape: the bot's own recording of every market event it saw.

File format
-----------
A tape is a gzip-compressed JSON Lines file, by convention named ``*.jsonl.gz``: one JSON
object per line, UTF-8, each line ending in ``\\n``. Look at one from the shell with::

    zcat tape.jsonl.gz | head
    zcat tape.jsonl.gz | jq -c 'select(.e == "resolve")'

(``zcat`` prints everything up to the last flush of a tape whose writer is still running or
was killed, then complains "unexpected end of file"; that message is harmless.)

Every line has a kind in ``"e"``:

``{"e":"tape","version":1,"created":"2026-11-22T02:53:36.123Z","source":"paper"}``
    The header. It is the first line of the file, and it is repeated at the start of each
    later writing session appended to the same file. ``created`` is UTC, ``source`` says
    who wrote it. A header written after a crash carries ``"recovered_after_crash":true``.
``{"e":"open","ts":T,"market":{...}}``
    A market window opened. ``market`` holds every field of ``bot.model.Market``
    (``market_id``, ``instrument``, ``name``, ``window_start_ms``, ``window_end_ms``,
    ``strike``, ``tick``, ``min_size``, ``fee_rate_ppm``, ``fee_exponent``, ``token_ids``, ``slug``).
``{"e":"book","ts":T,"m":ID,"b":BID,"bs":BID_SIZE,"a":ASK,"as":ASK_SIZE,"f":FAIR,"u":UNDERLYING}``
    Top of book of the market's UP token (the DOWN book is its mirror). ``f`` is a forecast
    of P(UP) or null; ``u`` the underlying's price (a float) or null.
``{"e":"resolve","ts":T,"m":ID,"o":"UP"|"DOWN","u":FINAL_UNDERLYING}``
    The window resolved to outcome ``o``.

A live session with the underlying's price also records the fair-value model's inputs
(``"e"`` one of ``model``, ``price``, ``strike``, ``fair``: bot/feeds/tape_inputs.py).

``ts`` is milliseconds since the Unix epoch, UTC. Prices, forecasts and sizes are integers in
micro-units: price 0.53 is ``530000``, 12.5 shares are ``12500000``.

Crash safety
------------
``TapeWriter`` buffers lines in memory and pushes them through the gzip stream with a zlib
sync flush at least every ``flush_interval_s`` (1 s) of wall time or every ``flush_every``
(10 000) events, whichever comes first, and on ``flush()``/``close()``. The flush is
checked on each ``write()``; a caller whose feed can go quiet should also call
``maybe_flush()`` from a timer. After a kill, everything up to the last flush is readable:
``read_tape`` reads a truncated last gzip member up to its last complete line, stops
cleanly, and sets ``TapeReader.truncated``. Opening a ``TapeWriter`` on an existing tape
appends a new gzip member (a file of several members is still one valid gzip file); if the
existing tape was cut short by a crash, its complete lines are first rewritten into a clean
file (atomically, by rename), since data appended after a broken member would be unreadable.

One process writes a tape at a time; ``TapeWriter`` is not thread-safe.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from time import monotonic
from types import TracebackType
from typing import Annotated, Any, Final

import msgspec
import orjson

from bot.fairvalue import FairState, ModelInput, ModelLine, PriceInput, StrikeInput
from bot.feeds.checks import MAX_SIZE, MAX_TS, event_problem
from bot.feeds.tape_file import (
    TAPE_VERSION,
    DataError,
    Stream,
    check_tape_file,
    check_version,
    prepare_for_append,
)
from bot.feeds.tape_inputs import INPUT_KINDS, decode_input, encode_input
from bot.model import (
    ONE,
    BookTick,
    Market,
    MarketEvent,
    WindowOpened,
    WindowResolved,
    iso,
    now_ms,
    parse_resolution,
    resolution_name,
)
from bot.safefile import FileRefused, open_append, open_regular

MAX_MALFORMED: Final = 100  # malformed lines kept with their numbers; all are counted
_INPUTS: Final = frozenset((ModelInput, PriceInput, StrikeInput, FairState))  # ModelLine's types

_NL: Final = orjson.OPT_APPEND_NEWLINE
_FLOAT_MAX: Final = 1.7976931348623157e308

# msgspec decodes a chunk of book, open and resolve lines ~40 % faster than orjson, each book
# line straight into a BookTick with its ranges checked (bot/model.py); every value as orjson
# reads it (integers of 64 bits: orjson reads a wider one as a float), else the whole chunk
# goes to orjson; an open line's market is parsed by orjson
_Raw = msgspec.Raw
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _Open(msgspec.Struct, tag_field="e", tag="open", gc=False):
    ts: _Int64
    market: _Raw  # parsed by orjson: a Market's fields


class _Resolve(msgspec.Struct, tag_field="e", tag="resolve", gc=False):
    ts: _Int64
    m: str
    o: str
    u: float | _Int64 | None = None


_FAST_DECODE: Any = msgspec.json.Decoder(list[BookTick | _Open | _Resolve]).decode
_FAST_OTHER: Final = (_Open, _Resolve)
_FAST_ERRORS: Final = (msgspec.DecodeError, msgspec.ValidationError)
# decoded this much at a time (a 256 KiB read of a gzip tape inflates to ~1.2 MB): the
# events of one piece stay in the CPU's cache for the passes after the decode (backtests of
# the 1M-event tape ~2 % faster; smaller pieces were slower)
_DECODE_BYTES: Final = 1 << 18
_FAST_TRIES: Final = 8  # chunks msgspec may refuse (headers, input lines) before orjson alone


# ---------------------------------------------------------------------------
# writing


class TapeWriter:
    """Append market events to a gzip JSONL tape; see the module docstring for the format.

    ``with TapeWriter(Path("logs/tape/2026-11-22.jsonl.gz"), source="paper") as tape:
    tape.write(event)``. The header line is written and flushed at once, so even a tape
    killed right away is a readable (empty) tape. The default gzip level 2 stores a book
    event in about 28 bytes and keeps writing and reading fast (level 6: ~12% smaller files,
    writes about half as fast).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        source: str = "touchtrader",
        flush_interval_s: float = 1.0,
        flush_every: int = 10_000,
        compresslevel: int = 2,
    ) -> None:
        if flush_every < 1 or flush_interval_s < 0:
            raise ValueError("flush_every must be >= 1 and flush_interval_s >= 0")
        self.path = Path(path)
        self.source = source
        self.count = 0  # events written by this writer
        self._interval = flush_interval_s
        self._flush_every = flush_every
        self._buf: list[str] = []
        self._market_json: dict[str, str] = {}  # market id -> its JSON string
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # None when the file was new or a complete tape; else the complete lines kept.
        self.recovered_lines: int | None = prepare_for_append(self.path)
        try:
            self._raw = open_append(self.path)  # never blocks on a FIFO put under the name
        except FileRefused as exc:
            raise DataError(f"{self.path}: {exc}; cannot record a tape there") from None
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="ab", compresslevel=compresslevel)
        header: dict[str, Any] = {
            "e": "tape",
            "version": TAPE_VERSION,
            "created": iso(now_ms()),
            "source": source,
        }
        if self.recovered_lines is not None:
            header["recovered_after_crash"] = True
        self._buf.append(orjson.dumps(header, option=_NL).decode())
        self._flush_due = 0.0
        self.flush()

    def write(self, event: MarketEvent | ModelLine) -> None:
        """Buffer one event (or one of the model's inputs); flush when a flush is due."""
        if self._closed:
            raise ValueError(f"{self.path}: tape is closed")
        if type(event) is BookTick:
            line = self._book_line(event)
        elif isinstance(event, BookTick | WindowOpened | WindowResolved):
            line = _encode(event).decode()
        elif isinstance(event, PriceInput | StrikeInput | FairState | ModelInput):
            line = encode_input(event).decode()
        else:
            raise TypeError(f"not a market event: {event!r}")
        buf = self._buf
        buf.append(line)
        self.count += 1
        if len(buf) >= self._flush_every or monotonic() >= self._flush_due:
            self.flush()

    def _book_line(self, event: BookTick) -> str:
        """The hot path, about 3x faster than orjson on a dict: format the line directly.
        Anything unusual (a non-int price, a NaN, a non-float underlying) goes to orjson."""
        market = event.market_id
        market_json = self._market_json.get(market)
        if market_json is None:
            if len(self._market_json) >= 10_000:
                self._market_json.clear()
            market_json = self._market_json[market] = orjson.dumps(market).decode()
        fair = event.fair_forecast
        under = event.underlying
        if under is None:
            under_json = "null"
        elif type(under) is float and -_FLOAT_MAX <= under <= _FLOAT_MAX:
            under_json = repr(under)  # the shortest round-trip repr of a finite float is JSON
        else:
            return _encode(event).decode()
        try:  # the ":d" formats raise for anything but an int
            return (
                f'{{"e":"book","ts":{event.ts_ms:d},"m":{market_json},'
                f'"b":{event.bid:d},"bs":{event.bid_size:d},'
                f'"a":{event.ask:d},"as":{event.ask_size:d},'
                f'"f":{"null" if fair is None else format(fair, "d")},"u":{under_json}}}\n'
            )
        except (TypeError, ValueError):
            return _encode(event).decode()

    def maybe_flush(self) -> None:
        """Flush if there is buffered data and the flush interval has passed."""
        if self._buf and not self._closed and monotonic() >= self._flush_due:
            self.flush()

    def flush(self, *, fsync: bool = False) -> None:
        """Push buffered lines into the file with a zlib sync flush, so that a reader can
        decode everything written so far. ``fsync=True`` also asks the OS to put it on disk
        (survives a power cut, not only a killed process)."""
        if self._closed:
            return
        if self._buf:
            self._gz.write("".join(self._buf).encode())
            self._buf.clear()
            self._gz.flush(zlib.Z_SYNC_FLUSH)  # also flushes the file object to the OS
        if fsync:
            os.fsync(self._gz.fileno())
        self._flush_due = monotonic() + self._interval

    def close(self) -> None:
        """Flush and finish the gzip member (writes its CRC trailer). Idempotent."""
        if self._closed:
            return
        if self._buf:
            self._gz.write("".join(self._buf).encode())
            self._buf.clear()
        self._closed = True
        try:
            self._gz.close()
        finally:
            self._raw.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> TapeWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _encode(event: MarketEvent) -> bytes:
    """One tape line (with its newline) for any event, via orjson."""
    if isinstance(event, WindowOpened):
        # orjson serializes the Market dataclass field by field; token_ids becomes a list
        return orjson.dumps({"e": "open", "ts": event.ts_ms, "market": event.market}, option=_NL)
    if isinstance(event, WindowResolved):
        obj = {
            "e": "resolve",
            "ts": event.ts_ms,
            "m": event.market_id,
            "o": resolution_name(event.outcome),
            "u": event.final_underlying,
        }
        return orjson.dumps(obj, option=_NL)
    return orjson.dumps(
        {
            "e": "book",
            "ts": event.ts_ms,
            "m": event.market_id,
            "b": event.bid,
            "bs": event.bid_size,
            "a": event.ask,
            "as": event.ask_size,
            "f": event.fair_forecast,
            "u": event.underlying,
        },
        option=_NL,
    )


# ---------------------------------------------------------------------------
# reading


def _market_from_json(obj: dict[str, Any]) -> Market:
    fields = dict(obj)
    token_ids = fields.get("token_ids")
    if token_ids is not None:
        if not isinstance(token_ids, list) or len(token_ids) != 2:
            raise ValueError(f"token_ids must be a list of two ids, not {token_ids!r}")
        fields["token_ids"] = (str(token_ids[0]), str(token_ids[1]))
    return Market(**fields)


class TapeReader(Iterator[MarketEvent]):
    """Iterate over the events of a tape. Made by ``read_tape``.

    After iteration: ``truncated`` (the file ended inside a gzip member or in corrupt data;
    reading stopped cleanly at the last complete line) with ``problem`` saying why,
    ``lines`` (lines read, headers included), ``line_no`` (the line of the event last
    yielded), ``headers`` (the header objects),
    ``malformed`` (up to MAX_MALFORMED ``(line_no, reason)`` pairs for lines that are not
    valid events; they are skipped) and ``malformed_total``.

    With ``inputs=True`` the fair-value model's input lines (bot/feeds/tape_inputs.py) are
    kept in ``inputs``, in file order, for the consumer to take (and clear) as each event
    arrives: the list then holds the inputs written before that event. Otherwise they are
    skipped (and counted in ``input_lines``).

    ``chunks()`` gives the same events in lists (a backtest's way): see there.
    """

    def __init__(self, path: Path | str, *, inputs: bool = False) -> None:
        self.path = Path(path)
        self.keep_inputs = inputs
        self.inputs: list[ModelLine] = []
        self.input_lines = 0
        self.truncated = False
        self.problem = ""
        self.lines = 0
        self.line_no = 0  # the line of the event last yielded
        self.headers: list[dict[str, Any]] = []
        self.malformed: list[tuple[int, str]] = []
        self.malformed_total = 0
        self._fast_tries = _FAST_TRIES if _FAST_DECODE is not None else 0  # None: orjson only
        self._gzip = check_tape_file(self.path)
        self._events = self._generate()
        self._lists: Generator[list[MarketEvent | ModelLine], None, None] | None = None

    def __iter__(self) -> Iterator[MarketEvent]:
        return self._events

    def __next__(self) -> MarketEvent:
        return next(self._events)

    def close(self) -> None:
        """Stop early and close the file."""
        self._events.close()
        if self._lists is not None:
            self._lists.close()

    def __enter__(self) -> TapeReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _bad(self, line_no: int, reason: str) -> None:
        self.malformed_total += 1
        if len(self.malformed) < MAX_MALFORMED:
            self.malformed.append((line_no, reason))

    def _bodies(self) -> Iterator[tuple[bytes, bytes, int]]:
        """The file's complete lines, many at a time: ``(head, data, end)`` for the lines
        ``head + data[:end]`` (no final newline; ``head``, the start of a line the previous
        read cut, holds none), at most ``_DECODE_BYTES`` of the file's bytes at a time."""
        try:
            f = open_regular(self.path)
        except FileRefused as exc:  # swapped since it was checked
            raise DataError(f"{self.path}: {exc}; expected a tape") from None
        with f:
            stream = Stream(f, gzip=self._gzip)
            pending = b""
            for inflated in stream.chunks():
                for at in range(0, len(inflated), _DECODE_BYTES):
                    chunk = inflated[at : at + _DECODE_BYTES] if len(inflated) > _DECODE_BYTES else inflated
                    end = chunk.rfind(b"\n")
                    if end < 0:
                        pending += chunk
                        continue
                    yield pending, chunk, end
                    pending = chunk[end + 1 :]
            if pending and not stream.truncated:
                yield b"", pending, len(pending)  # a last line without a newline
            # in a truncated tape, a partial line after the last flush is dropped
            self.truncated = stream.truncated
            self.problem = stream.problem

    def _objects(self, head: bytes, data: bytes, end: int, line_no: int) -> tuple[list[Any], dict[int, str]]:
        """The JSON values of the lines ``head + data[:end]``, the first line number
        ``line_no + 1``, None for a line that is not JSON (its reason in the dict). Fast path:
        all lines parsed as one JSON array."""
        # data's newlines are the count - 1 before end and the one at end (if end is not
        # len(data)); counted by deleting them (memchr: faster than bytes.count)
        count = len(data) - len(data.replace(b"\n", b"")) + (end == len(data))
        self.lines = line_no + count
        array = b"".join((b"[", head, memoryview(data.replace(b"\n", b","))[:end], b"]"))
        if self._fast_tries:
            # book, open and resolve lines only, every value as orjson reads it; anything
            # else in the chunk (a header, an input line, a malformed line): orjson's way
            try:
                fast = _FAST_DECODE(array)
                if len(fast) == count:
                    return fast, {}
            except _FAST_ERRORS:
                self._fast_tries -= 1
        try:
            objs = orjson.loads(array)
        except orjson.JSONDecodeError:
            objs = None
        errors: dict[int, str] = {}  # line -> why it is not JSON (slow path only)
        if objs is None or len(objs) != count:
            objs = []
            for i, line in enumerate((head + data[:end]).split(b"\n"), start=line_no + 1):
                try:
                    objs.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    objs.append(None)
                    errors[i] = "empty line" if not line.strip() else f"not JSON ({exc})"
        return objs, errors

    def chunks(self) -> Iterator[list[MarketEvent | ModelLine]]:
        """The events in lists, one per decoded chunk of the file (thousands of lines): what
        a backtest reads, much cheaper than one event at a time through generators. With
        ``inputs=True`` the model's input lines are in the lists too, in file order (not in
        ``inputs``). Instead of iterating the reader, not as well; ``line_no`` is not kept."""
        if self._lists is None:
            self._lists = self._chunks()
        return self._lists

    def _chunks(self) -> Generator[list[MarketEvent | ModelLine], None, None]:
        book_tick = BookTick
        line_no = 0
        for head, data, end in self._bodies():
            objs, errors = self._objects(head, data, end, line_no)
            # the lines that are not a book with bid < ask (other kinds, crossed books, lines
            # that are not JSON), in one pass: a comprehension, the cheapest loop per line
            odd = [i for i, obj in enumerate(objs) if type(obj) is not book_tick or obj.bid >= obj.ask]
            if not odd:
                events: list[MarketEvent | ModelLine] = objs
            else:
                events = []
                start = 0
                try:
                    for i in odd:
                        events += objs[start:i]
                        start = i + 1
                        event = self._event(objs[i], line_no + start, errors)
                        if event is not None:
                            events.append(event)
                except DataError:  # a later header of a newer version: what came before it first
                    if events:
                        yield events
                    raise
                events += objs[start:]
            line_no += len(objs)
            if events:
                yield events

    def _generate(self) -> Generator[MarketEvent, None, None]:
        # locals: this loop runs once per event of a reader iterated event by event
        book_tick, keep_inputs, inputs = BookTick, self.keep_inputs, self.inputs
        line_no = 0
        for head, data, end in self._bodies():
            objs, errors = self._objects(head, data, end, line_no)
            for obj in objs:
                line_no += 1
                if type(obj) is book_tick and obj.bid < obj.ask:  # msgspec's, its ranges checked
                    self.line_no = line_no
                    yield obj
                    continue
                event = self._event(obj, line_no, errors)
                if event is None:
                    continue
                if type(event) in _INPUTS:
                    if keep_inputs:
                        inputs.append(event)  # type: ignore[arg-type]
                    continue
                self.line_no = line_no
                yield event  # type: ignore[misc]

    def _event(self, obj: Any, line_no: int, errors: dict[int, str]) -> MarketEvent | ModelLine | None:
        """The event of line `line_no` that is not a book msgspec read with bid < ask (`obj`:
        what `_objects` made of it), else None: a malformed line is counted, a header kept,
        an input line counted (and returned when the reader keeps them)."""
        event: MarketEvent
        if type(obj) is BookTick:  # msgspec's, a crossed book
            self._bad(line_no, event_problem(obj) or "bad book")
            return None
        if type(obj) in _FAST_OTHER:  # msgspec's open or resolve line: as orjson reads it
            obj = _fast_dict(obj)
        if obj is None:
            self._bad(line_no, errors.get(line_no, "null"))
            return None
        try:
            kind = obj["e"]
            if kind == "book":
                event = BookTick(
                    ts := obj["ts"],
                    market_id := obj["m"],
                    bid := obj["b"],
                    bid_size := obj["bs"],
                    ask := obj["a"],
                    ask_size := obj["as"],
                    fair := obj.get("f"),
                    under := obj.get("u"),
                )
                # checks.book_ok, inlined: a crossed or out-of-range book is a malformed
                # line, never used
                if not (
                    type(ts) is int
                    and 0 <= ts <= MAX_TS
                    and type(bid) is int
                    and type(ask) is int
                    and 0 <= bid < ask <= ONE
                    and type(bid_size) is int
                    and 0 <= bid_size <= MAX_SIZE
                    and type(ask_size) is int
                    and 0 <= ask_size <= MAX_SIZE
                    and type(market_id) is str
                    and market_id != ""
                    and (fair is None or (type(fair) is int and 0 <= fair <= ONE))
                    and (under is None or type(under) is float or type(under) is int)
                ):
                    self._bad(line_no, event_problem(event) or "bad book")
                    return None
                return event
            if kind == "open":
                event = WindowOpened(obj["ts"], _market_from_json(obj["market"]))
            elif kind == "resolve":
                event = WindowResolved(obj["ts"], obj["m"], parse_resolution(obj["o"]), obj.get("u"))
            elif kind == "tape":
                check_version(self.path, obj)
                self.headers.append(obj)
                return None
            elif kind in INPUT_KINDS:
                self.input_lines += 1
                return decode_input(kind, obj) if self.keep_inputs else None
            else:
                self._bad(line_no, f"unknown event kind {kind!r}")
                return None
        except KeyError as exc:
            self._bad(line_no, f"missing key {exc}")
            return None
        except DataError:  # a later header of a newer version: stop, do not guess
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            self._bad(line_no, f"bad event ({exc})")
            return None
        problem = event_problem(event)
        if problem:
            self._bad(line_no, problem)
            return None
        return event


def _fast_dict(obj: Any) -> dict[str, Any]:
    """A line msgspec read as an open or resolve line, as the dict orjson would give."""

    if type(obj) is _Open:
        return {"e": "open", "ts": obj.ts, "market": orjson.loads(bytes(obj.market))}
    return {"e": "resolve", "ts": obj.ts, "m": obj.m, "o": obj.o, "u": obj.u}


def read_tape(path: Path | str, *, inputs: bool = False) -> TapeReader:
    """Open a tape for reading; iterate the result for its events in file order.

    Raises DataError at once if the file is missing or does not start with a tape header.
    The returned TapeReader tells, once iterated, whether the tape was truncated and which
    lines were malformed (those are skipped, never guessed at).
    """
    return TapeReader(path, inputs=inputs)
