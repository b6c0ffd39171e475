"""bot/feeds/where.py: the place of a bad input, FILE:LINE:COL, found only once loading failed."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from bot.feeds.where import at, json_error, utf8_error


def test_at_shows_only_what_is_known_of_the_place() -> None:
    assert at("a.csv", "bad", 3, 7) == "a.csv:3:7: bad"
    assert at("a.csv", "bad", 3) == "a.csv:3: bad"
    assert at("a.csv", "bad") == "a.csv: bad"


def test_a_json_syntax_error_is_at_its_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(orjson.JSONDecodeError) as info:
        orjson.loads(b'{"a": 1,\n  "b": oops}')
    message = str(json_error(tmp_path / "m.json", info.value, "an object"))
    assert message.startswith(f"{tmp_path / 'm.json'}:2:8: not valid JSON (")
    assert message.endswith("; expected an object")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_the_first_byte_not_utf8_is_found_past_the_first_chunk(tmp_path: Path, compress: bool) -> None:
    # 3-byte characters straddle the 64 KiB chunk boundary; the bad byte is far past it
    body = ("€" * 30_000 + "\n") * 3 + "ok,é,"
    data = body.encode() + b"\xe9x\n"
    path = tmp_path / "d.csv"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    message = str(utf8_error(path, "a CSV file"))
    assert message == f"{path}:4:6: not UTF-8 text (byte 0xe9); expected a CSV file in UTF-8"


def test_a_file_that_ends_inside_a_character_is_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_bytes(b"a,b\nc,\xe2\x82")
    assert str(utf8_error(path, "a CSV file")).startswith(f"{path}:2:3: not UTF-8 text (bytes)")
