"""Where in a file input went wrong: the one-line ``FILE:LINE:COL: reason`` of every loader.

    raise DataError(at(path, "outcome '1' ...", line=7, col=6))   # books.csv:7:6: outcome '1' ...
    raise json_error(path, exc, "a Gamma export")                 # gamma.json:3:14: ...
    raise utf8_error(path, "a CSV file")                          # books.csv:12:9: not UTF-8 ...

LINE and COL count from 1. COL is the character column in JSON and text, and the field's
position in a CSV row (its name is in the reason). A Parquet file has no lines: its
messages say ``FILE: row R, column NAME: reason``. When the place is not known (a missing
file, an option) the message is ``FILE: reason``. Everything here runs only when loading
has already failed, so none of it costs the rows that read well.
"""

from __future__ import annotations

import codecs
import json
import zlib
from pathlib import Path

from bot.feeds.tape import DataError
from bot.safefile import FileRefused, open_regular

_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"


def at(path: Path | str, reason: str, line: int | None = None, col: int | None = None) -> str:
    """``FILE:LINE:COL: reason``, with only what is known of the place."""
    place = str(path)
    if line is not None:
        place += f":{line}"
        if col is not None:
            place += f":{col}"
    return f"{place}: {reason}"


def json_error(path: Path | str, exc: json.JSONDecodeError, expected: str) -> DataError:
    """A JSON (orjson or json) syntax error at its line and column."""
    return DataError(at(path, f"not valid JSON ({exc.msg}); expected {expected}", exc.lineno, exc.colno))


def utf8_error(path: Path | str, expected: str) -> DataError:
    """The first byte that is not UTF-8 (gunzipped first if the file is gzip data), at its
    line and column; read again from the start, only once loading has failed."""
    line, col, byte = _first_bad_utf8(Path(path))
    shown = f"byte 0x{byte:02x}" if byte is not None else "bytes"
    return DataError(at(path, f"not UTF-8 text ({shown}); expected {expected} in UTF-8", line, col))


def _first_bad_utf8(path: Path) -> tuple[int | None, int | None, int | None]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, col = 1, 1
    try:
        with open_regular(path) as f:
            first = f.read(_CHUNK)
            unzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if first.startswith(_GZIP_MAGIC) else None
            chunk = first
            while chunk:
                data = unzip.decompress(chunk) if unzip is not None else chunk
                try:
                    text = decoder.decode(data)
                except UnicodeDecodeError as exc:
                    good = exc.object[: exc.start].decode("utf-8", "ignore")
                    line, col = _advance(line, col, good)
                    return line, col, exc.object[exc.start]
                line, col = _advance(line, col, text)
                chunk = f.read(_CHUNK)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line, col, None  # the file ends inside a character
    except (FileRefused, OSError, zlib.error):
        return None, None, None
    return None, None, None


def _advance(line: int, col: int, text: str) -> tuple[int, int]:
    newlines = text.count("\n")
    if newlines:
        return line + newlines, len(text) - text.rfind("\n")
    return line, col + len(text)
