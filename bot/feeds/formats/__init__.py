"""Backtest input data: load one file into a time-sorted list of market events.

    from bot.feeds.formats import load
    data = load("data/btc-15m.csv")            # the format is detected from the content
    print(data.report.summary())               # what was read, used, skipped, and why
    for event in data.events: ...              # WindowOpened, BookTick, WindowResolved

``load(path, fmt=None, **options)`` returns ``LoadedData(events, report)``. The events are
sorted by time; at equal times a market's open comes before its ticks and its resolution
after them, ticks of one market keep their file order, and markets come in the order they
first appear. Each market gets a ``WindowOpened`` at or before its first tick and,
when its outcome is known, a ``WindowResolved`` at the end. Loading the same file twice gives
identical events. Book rows at or after a market's window end are not used (trading has
stopped); they are counted under ``report.ignored``.

Rows that fail validation are never used and never guessed at: each is counted in
``report.malformed_total`` and the first 100 are listed as ``(line number, reason)`` in
``report.malformed`` (for a price history the number is the point's 1-based position in
the list instead, see ``report.row_unit``). Pass ``strict=True`` to stop at the first one.
A missing file, an unknown format, CSV columns that do not match, a bad option or a file
with no usable rows raise ``DataError`` with a one-line message naming the file and what was
expected.

Times in files and options may be unix seconds, unix milliseconds (told apart by
magnitude; both must be after 2001) or ISO-8601 (``2026-11-22T03:00:00Z``; without a time
zone, UTC is assumed and the report notes it). Prices are decimal probabilities in [0, 1].

Formats (``fmt=``; detected from the content when not given, then from the extension):

``tape`` -- the bot's own recording, ``*.jsonl.gz`` (see ``bot.feeds.tape`` for the lines)
    Used as recorded. Book lines must have integer micro prices in [0, 1_000_000], bid <
    ask and sizes >= 0; time must not go backwards within a market. Book lines of a market
    before its ``open`` line or after its ``resolve`` line are ignored, and so are repeated
    ``open``/``resolve`` lines; one that contradicts the first is malformed. An ``open``
    stamped later than its market's first book line is moved to that line's time. A tape
    cut short by a crash is read up to its last complete line and ``report.truncated`` is
    set. Options: ``strict``.

``polymarket`` -- a Polymarket price history, ``*.json``: ``{"history": [{"t": 1763780000,
"p": 0.535}, ...]}`` (``t`` unix seconds, ``p`` the token's price), as served by the CLOB
``/prices-history`` endpoint for one token (one file per token; a bare list of points is
accepted too). A price history has no order book, so a top of book is synthesized around
each price: bid = price - spread/2 rounded down to the tick, ask = price + spread/2 rounded
up to the tick, both clamped to [tick, 1 - tick] and kept at least one tick apart; both
sides get ``size`` shares. The series of a DOWN token is turned into the UP view first
(up price = 1 - p). Points must have numeric ``t`` and ``p`` with p in [0, 1], in time
order. Settings come from keyword options, else from a sidecar file next to the data,
``<name>.meta.json`` for ``<name>.json`` (a JSON object with the same keys), else defaults:

    token_outcome  "UP" or "DOWN": which token the history is for (required)
    window_end     when the window closes (required); no points are used from then on
    outcome        "UP" or "DOWN" if the market has resolved (gives a WindowResolved); 0.5, 50-50 or
                   SPLIT if it resolved 50/50 (each token paid 0.5)
    market_id      default: the file name without .json
    window_start   default: the first point's time
    tick           price tick, default 0.01
    spread         synthesized spread, default two ticks (bid 0.52 / ask 0.54 around 0.53)
    size           shares on each side of the synthesized book, default 100
    instrument, name, strike, min_size, fee_rate_ppm, fee_exponent
                   Market fields (defaults: "", the market id, none, 5, 70000, 1)

``csv`` -- top of book rows, ``*.csv`` (or ``*.csv.gz``), one header line, then one row per
book update of a market's UP token; several markets may be interleaved. Columns (names are
matched without regard to case; rename with ``columns={"market_id": "market", ...}``):

    timestamp      time of the row (required)
    market_id      the market (required unless the option market_id= names the one market)
    best_bid       UP token best bid (required)
    best_ask       UP token best ask (required)
    bid_size       shares at the bid (optional; else the option size, default 100)
    ask_size       shares at the ask (optional; as bid_size)
    window_end     when the market's window closes (required unless the option window_end=)
    outcome        UP/DOWN, Up/Down or Yes/No once resolved, may be blank (optional, or the
                   option outcome=); 1/0 and true/false are an error here (see tokens)
    window_start   (optional) when the window opened; default the first row's time
    strike         (optional) the market's strike
    underlying     (optional) the underlying's price at the row's time
    token_id       (optional) the row's token: then the file has one row per token and
                   both tokens of a market load as ONE market (``formats.tokens``), grouped
                   by market_id or by ``metadata=FILE`` (a Gamma export, ``formats.metadata``)
    token_outcome  (rows per token) the token's side, Up/Down or Yes/No (or from metadata)

A row is malformed if it has the wrong number of fields, an unparseable number or time, a
price outside [0, 1] or off the tick, a crossed book (bid >= ask), a negative size, a time
earlier than the market's (rows per token: the token's) previous row, or a window_end,
window_start, strike or outcome that differs from the earlier rows (the first value is
kept; a market with contradicting outcomes is left unresolved); its reason lists every one
of these it has, not only the first. The tick: the option ``tick`` if given (every price
must be on it); else metadata's, made finer if the prices are (Polymarket goes from 0.01 to
0.001 near 0 and 1); else inferred per market as the coarsest of 0.01, 0.001, 0.0001 that
all its prices are on (``report.ticks``). Fees: the metadata's fee schedule; else the
options ``fee_rate_ppm``/``fee_exponent`` (``fee_rate_ppm=0`` for none); else Polymarket's
crypto schedule, 0.07 x shares x p(1-p) (``report.fees`` says which, per market). Other
options: ``delimiter`` (default ","), ``instrument``, ``min_size``, ``metadata``, ``strict``.
``bot backtest`` streams a CSV of 16 MiB or more whose rows are in time order
(``formats.streaming``: the same events and report, memory flat with the file's length).

``parquet`` -- the same rows as ``csv`` in a Parquet table, ``*.parquet`` (the public
Polymarket datasets are Parquet), read column by column (``formats.parquet``; clean tables
of rows per token take ``formats.columnar``). Same columns, options and rules; rows are
numbered from 1 (``report.row_unit`` "row"). Needs the optional extra ``data`` (pyarrow,
numpy); without it the error names the extra.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from bot.feeds.formats.core import (
    _OPTIONS,
    CSV_COLUMNS,
    FORMATS,
    MAX_MALFORMED,
    LoadedData,
    LoadReport,
    _Collector,
)
from bot.feeds.formats.csvarrow import load_csv
from bot.feeds.formats.detect import detect_format
from bot.feeds.formats.history import _load_polymarket
from bot.feeds.formats.parquet import _load_parquet
from bot.feeds.formats.tapes import _load_tape
from bot.feeds.formats.values import book_from_price, parse_time
from bot.feeds.tape import DataError
from bot.safefile import FileRefused, open_regular

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "MAX_MALFORMED",
    "DataError",
    "LoadReport",
    "LoadedData",
    "book_from_price",
    "detect_format",
    "load",
    "parse_time",
]


# ---------------------------------------------------------------------------
# entry points


def load(path: Path | str, *, fmt: str | None = None, **options: Any) -> LoadedData:
    """Load a tape, a Polymarket price history or a top-of-book CSV; see the module doc."""
    path = Path(path)
    try:
        open_regular(path).close()  # never blocks: a FIFO, device or folder is refused here
    except FileRefused as exc:
        raise DataError(f"{path}: {exc}; expected a tape, a price history or a CSV") from None
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    unknown = sorted(set(options) - _OPTIONS[fmt])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[fmt]))
        raise DataError(f"{path}: unknown option(s) {', '.join(unknown)} for {fmt}; expected {allowed}")
    strict = options.get("strict", False)
    if not isinstance(strict, bool):
        raise DataError(f"{path}: option strict={strict!r}: expected True or False")
    col = _Collector(path, fmt, strict)
    # Millions of small objects and no reference cycles: the cyclic garbage collector would
    # only rescan them over and over (loading is ~1.5x faster without it).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if fmt == "tape":
            markets = _load_tape(path, col)
        elif fmt == "polymarket":
            markets = _load_polymarket(path, col, options)
        elif fmt == "parquet":
            markets = _load_parquet(path, col, options)
        else:
            markets = load_csv(path, col, options)
        return col.finish(markets)
    finally:
        if gc_was_enabled:
            gc.enable()
