"""Which format a file is, from its first bytes, else its extension."""

from __future__ import annotations

import zlib
from pathlib import Path

import orjson

from bot.feeds.formats.core import _GZIP_MAGIC, _SNIFF_BYTES
from bot.feeds.tape import DataError
from bot.safefile import FileRefused, open_regular


def detect_format(path: Path | str) -> str:
    """'tape', 'polymarket', 'csv' or 'parquet', from the file's first bytes, else its extension."""
    path = Path(path)
    head = _head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    compressed = head.startswith(_GZIP_MAGIC)
    if compressed:
        head = _gunzipped(path, head)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    first_line = text.split(b"\n", 1)[0].strip()
    if text.startswith(b"{"):
        try:
            first = orjson.loads(first_line)
        except orjson.JSONDecodeError:
            first = None
        if isinstance(first, dict) and first.get("e") == "tape":
            return "tape"
        if first is None and path.name.lower().endswith((".jsonl", ".jsonl.gz")):
            return "tape"  # JSON lines whose first line does not parse: the tape reader says where
        return "polymarket"
    if text.startswith(b"["):
        return "polymarket"
    if first_line and any(sep in first_line for sep in (b",", b";", b"\t")):
        return "csv"
    name = path.name.lower()
    for suffix, found in ((".jsonl.gz", "tape"), (".json", "polymarket"), (".csv", "csv")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return found
    what = "gzip data" if compressed else repr(first_line[:40].decode("utf-8", "replace"))
    raise DataError(
        f"{path}: unknown format (starts with {what}); expected a tape (.jsonl.gz), a Polymarket"
        f" price history (.json), a CSV with a header line (.csv) or Parquet (.parquet), or pass fmt="
    )


def _head(path: Path) -> bytes:
    """The file's first bytes; DataError when it cannot be read or is empty."""
    try:
        with open_regular(path) as f:
            head = f.read(_SNIFF_BYTES)
    except FileRefused as exc:
        raise DataError(f"{path}: {exc}; expected a tape, a price history or a CSV") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); expected a data file") from None
    if not head:
        raise DataError(f"{path}: empty file; expected a tape, a price history or a CSV")
    return head


def _gunzipped(path: Path, head: bytes) -> bytes:
    """The start of gzip data's content (empty if it does not inflate); gzip'd Parquet refused."""
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _SNIFF_BYTES)
    except zlib.error:
        return b""
    if head.startswith(b"PAR1"):
        raise DataError(
            f"{path}: gzip'd Parquet; expected the .parquet file itself (gunzip it: Parquet"
            " compresses its own columns)"
        )
    return head
