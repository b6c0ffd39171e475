"""The fast path for clean Parquet tables of rows per token: checks and pairing with numpy.

A table qualifies when every check a row could fail passes for all rows at once (times,
prices, sizes, keys; each token's rows in time order with one market, side, window end and
outcome) and there is no window_start or strike column. Then the checks across rows and
the pairing of the two tokens of a market (``formats.tokens``: the best of both books,
rows at one time applied together, crossed complements counted) run on whole arrays, and
Python builds only the events. Any other table returns None and goes through the row path,
which finds and explains every problem; both give the same events (tests compare them).
"""

from __future__ import annotations

from typing import Any

from bot.feeds.formats.core import _Collector, _MarketAcc
from bot.feeds.formats.csvfile import Settings, _CsvRows
from bot.feeds.formats.tokens import TokenSeen, pair_tokens
from bot.feeds.formats.values import _outcome
from bot.model import ONE, BookTick


def fast_tokens(rows: _CsvRows, batch: Any, setup: Settings) -> dict[str, _MarketAcc] | None:
    """The markets of a whole table (one `parquet._Batch`), or None when it does not qualify."""
    np, pa = batch.np, batch.pa
    col: _Collector = rows.col
    if rows.tokens is None or batch.column("window_start") is not None or batch.column("strike") is not None:
        return None
    ts, bid, bid_size, ask, ask_size = batch.books()
    for role in ("timestamp", "best_bid", "best_ask"):
        if batch.column(role).type == pa.string() or batch.column(role).type == pa.large_string():
            return None  # text: naive times and exact decimals are the row path's business
    if batch.bad.any():
        return None
    n = batch.n
    codes, token_names = _codes(batch.column("token_id"), np, pa)
    if codes is None or any(not t for t in token_names):
        return None
    first = np.full(len(token_names), n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n))
    per_token: dict[str, list[Any]] = {}
    for role in ("market_id", "token_outcome", "outcome"):
        arr = batch.column(role)
        if arr is None:
            per_token[role] = [None] * len(token_names)
            continue
        values, names = _codes(arr, np, pa)
        if values is None:
            return None
        values = np.where(values < 0, -1, values)
        blank = np.array([not v for v in names] + [True])[values]  # -1 (null) is blank too
        values = np.where(blank, -1, values)
        high = np.full(len(token_names), -1, dtype=np.int64)
        np.maximum.at(high, codes, values)
        low = np.full(len(token_names), 1 << 40, dtype=np.int64)
        np.minimum.at(low, codes, np.where(values < 0, 1 << 40, values))
        has = high >= 0
        if (has & (low != high)).any():
            return None  # a token's rows disagree: the row path says where
        if role != "outcome" and (values < 0).any():
            return None
        per_token[role] = [names[h] if h >= 0 else None for h in high.tolist()]
    end_arr = batch.column("window_end")
    ends = None
    if end_arr is not None:
        ends = batch.times(end_arr, True)
        if batch.bad.any() or (ends != ends[first[codes]]).any():
            return None
    order = np.argsort(codes, kind="stable")
    if ((np.diff(ts[order]) < 0) & (np.diff(codes[order]) == 0)).any():
        return None  # time goes backwards for a token
    tick_seen = np.full(len(token_names), 10_000, dtype=np.int64)
    np.minimum.at(tick_seen, codes, np.minimum(_tick_of(bid, np), _tick_of(ask, np)))

    tokens: dict[str, TokenSeen] = {}
    by_token: dict[str, _MarketAcc] = {}
    bounds = np.searchsorted(codes[order], np.arange(len(token_names) + 1))
    token_rows: dict[str, Any] = {}
    side_col = rows.names["token_outcome"]
    for k, token in enumerate(token_names):
        try:
            side = _outcome(per_token["token_outcome"][k], side_col)
        except ValueError:
            return None
        tokens[token] = TokenSeen(
            per_token["market_id"][k], side, per_token["outcome"][k] or "", int(first[k]) + 1
        )
        acc = by_token[token] = _MarketAcc(token, window_end=setup.const_end, outcome=setup.const_outcome)
        if ends is not None:
            acc.window_end = int(ends[first[k]])
        acc.tick_seen = int(tick_seen[k])
        token_rows[token] = order[bounds[k] : bounds[k + 1]]
    meta = setup.meta
    for token, seen in tokens.items():
        info = meta.tokens.get(token) if meta is not None else None
        if (info is None and (seen.market is None or seen.side is None)) or (
            info is not None and seen.side is not None and seen.side is not info.side
        ):
            return None  # rows the metadata does not know, or a side it contradicts
    books = (ts, bid, bid_size, ask, ask_size)
    under = batch.floats("underlying")
    if batch.bad.any():
        return None
    rows.tokens = tokens

    def combine(col: _Collector, acc: _MarketAcc, up: _MarketAcc | None, down: _MarketAcc | None) -> None:
        _combine_arrays(np, col, acc, up, down, token_rows, books, under)

    return pair_tokens(col, by_token, tokens, meta, rows.names["outcome"], setup.const_outcome, combine)


def _codes(arr: Any, np: Any, pa: Any) -> tuple[Any, list[str]]:
    """Dictionary codes (-1 for null) and the distinct values as stripped text."""
    if pa.types.is_dictionary(arr.type) and pa.types.is_string(arr.type.value_type):
        encoded = arr
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_integer(arr.type):
        encoded = arr.cast(pa.string()).dictionary_encode()
    else:
        return None, []
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if hasattr(encoded, "combine_chunks") else encoded.chunk(0)
    names = [str(v).strip() for v in encoded.dictionary.to_pylist()]
    if len(set(names)) != len(names):
        return None, []  # " a" and "a": the row path strips and compares
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    present = np.bincount(codes[codes >= 0], minlength=len(names)) > 0
    if not present.all():  # a dictionary read from the file may hold values no row uses
        renumber = np.append(np.cumsum(present) - 1, -1)  # and -1 stays -1
        codes = renumber[codes]
        names = [name for name, used in zip(names, present.tolist(), strict=True) if used]
    return codes, names


def _tick_of(prices: Any, np: Any) -> Any:
    return np.where(prices % 10_000 == 0, 10_000, np.where(prices % 1_000 == 0, 1_000, 100))


def _combine_arrays(
    np: Any,
    col: _Collector,
    acc: _MarketAcc,
    up: _MarketAcc | None,
    down: _MarketAcc | None,
    token_rows: dict[str, Any],
    books: tuple[Any, ...],
    under: list[float | None],
) -> None:
    """As tokens._combine, on arrays: rows at or after the window end dropped, the two
    tokens' rows merged in time order (UP first at equal times), the book after each time."""
    ts, bid, bid_size, ask, ask_size = books
    parts = []
    for token_acc, is_up in ((up, True), (down, False)):
        if token_acc is not None:
            idx = token_rows[token_acc.market_id]
            parts.append((idx, np.full(len(idx), 0 if is_up else 1, dtype=np.int8)))
    idx = np.concatenate([p[0] for p in parts])
    side = np.concatenate([p[1] for p in parts])
    assert acc.window_end is not None
    keep = ts[idx] < acc.window_end
    dropped = int(len(idx) - keep.sum())
    if dropped:
        col.report.ignored["row at or after window end"] = (
            col.report.ignored.get("row at or after window end", 0) + dropped
        )
    idx, side = idx[keep], side[keep]
    k = len(idx)
    if k == 0:
        return
    order = np.lexsort((np.arange(k), side, ts[idx]))
    idx, side = idx[order], side[order]
    t = ts[idx]
    positions = np.arange(k)
    last_up = np.maximum.accumulate(np.where(side == 0, positions, -1))
    last_down = np.maximum.accumulate(np.where(side == 1, positions, -1))
    emit = np.append(t[1:] != t[:-1], True)
    rows_e = idx[emit]
    is_up = side[emit] == 0
    # each emitted row's own book, in the UP view
    own_bid = np.where(is_up, bid[rows_e], ONE - ask[rows_e])
    own_bs = np.where(is_up, bid_size[rows_e], ask_size[rows_e])
    own_ask = np.where(is_up, ask[rows_e], ONE - bid[rows_e])
    own_as = np.where(is_up, ask_size[rows_e], bid_size[rows_e])
    lu, ld = last_up[emit], last_down[emit]
    both = (lu >= 0) & (ld >= 0)
    u = idx[np.maximum(lu, 0)]
    d = idx[np.maximum(ld, 0)]
    d_bid, d_bs, d_ask, d_as = ONE - ask[d], ask_size[d], ONE - bid[d], bid_size[d]
    c_bid = np.maximum(bid[u], d_bid)
    c_bs = np.where(bid[u] > d_bid, bid_size[u], np.where(bid[u] < d_bid, d_bs, bid_size[u] + d_bs))
    c_ask = np.minimum(ask[u], d_ask)
    c_as = np.where(ask[u] < d_ask, ask_size[u], np.where(ask[u] > d_ask, d_as, ask_size[u] + d_as))
    crossed = both & (c_bid >= c_ask)
    col.report.books_disagree += int(crossed.sum())
    use = both & ~crossed
    out_bid = np.where(use, c_bid, own_bid).tolist()
    out_bs = np.where(use, c_bs, own_bs).tolist()
    out_ask = np.where(use, c_ask, own_ask).tolist()
    out_as = np.where(use, c_as, own_as).tolist()
    market_id = acc.market_id
    unders = [under[i] for i in rows_e.tolist()]
    acc.ticks = [
        BookTick(tt, market_id, b, bs, a, as_, None, un)
        for tt, b, bs, a, as_, un in zip(
            t[emit].tolist(), out_bid, out_bs, out_ask, out_as, unders, strict=True
        )
    ]
    acc.extra_rows += k - len(acc.ticks)
