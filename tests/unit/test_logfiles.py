"""RotatingLog: rotation at a line boundary; every byte written is in exactly one file, in order."""

from __future__ import annotations

import random
from pathlib import Path
from typing import IO

from bot.logfiles import RotatingLog


def _all(path: Path) -> tuple[bytes, list[bytes]]:
    rotated = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: int(p.suffix[1:]), reverse=True)
    files = [p.read_bytes() for p in [*rotated, path]]
    return b"".join(files), files


def _write_all(log: RotatingLog, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[log.write(view) :]


class Short:
    """A file that takes at most 7 bytes a write, as a disk nearly full may."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh

    def write(self, data: bytes | memoryview) -> int:
        return self.fh.write(data[:7]) or 0

    def close(self) -> None:
        self.fh.close()


def test_random_batches_with_long_lines_and_short_writes_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(5)
    path = tmp_path / "activity.jsonl"
    log = RotatingLog(path, max_bytes=300, keep=10_000)
    expected = b""
    for batch in range(150):
        lines = [b"x" * rng.choice([0, 5, 40, 120, 299, 300, 301, 700]) for _ in range(rng.randint(1, 6))]
        data = b"".join(f"{batch:04d} ".encode() + line + b"\n" for line in lines)
        if batch % 7 == 0 and log.fh is not None:
            log.fh = Short(log.fh)  # type: ignore[assignment]
        _write_all(log, data)
        expected += data
    log.close()
    joined, files = _all(path)
    assert joined == expected
    assert log.rotations > 40
    assert len(files) == log.rotations + 1
    for data in files[:-1]:
        assert data.endswith(b"\n")
        assert len(data) <= 300 or data.count(b"\n") == 1  # over the limit only alone


def test_keep_drops_the_oldest_and_zero_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "trades.jsonl"
    log = RotatingLog(path, max_bytes=10, keep=2)
    for i in range(5):
        _write_all(log, f"line{i:04d}\n".encode())
    log.close()
    assert [p.name for p in sorted(tmp_path.iterdir())] == [
        "trades.jsonl",
        "trades.jsonl.1",
        "trades.jsonl.2",
    ]
    assert path.read_bytes() == b"line0004\n"
    assert (tmp_path / "trades.jsonl.2").read_bytes() == b"line0002\n"
    never = RotatingLog(tmp_path / "never.jsonl", max_bytes=0)
    _write_all(never, b"y" * 100 + b"\n")
    never.close()
    assert not list(tmp_path.glob("never.jsonl.*"))


def test_a_file_left_inside_a_line_is_finished_before_any_rotation(tmp_path: Path) -> None:
    path = tmp_path / "signals.jsonl"
    path.write_bytes(b"half a li")  # a killed writer's last bytes
    log = RotatingLog(path, max_bytes=10, keep=5)
    _write_all(log, b"ne\nnext line\n")
    log.close()
    assert (tmp_path / "signals.jsonl.1").read_bytes() == b"half a line\n"
    assert path.read_bytes() == b"next line\n"
