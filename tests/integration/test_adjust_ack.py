"""ADJUST_RISK is answered in the files at once: a complete file over a cap is refused without
the grace a half-written file gets, and a corrected file written right after the refusal is
applied (the refusal never removes it)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from bot.model import Mode, to_micros
from bot.runtime import AdjustError, Limits, parse
from tests.support import FAST_CONFIG, BotProcess, eventually

CAPS = FAST_CONFIG + "\n[risk]\nmax_position_usd = 5\n\n[caps]\nmax_position_usd = 8\n"


def _rename_in(controls: Path, text: str, mtime: float | None = None) -> None:
    tmp = controls / ".adjust.tmp"
    tmp.write_text(text)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.rename(tmp, controls / "ADJUST_RISK")


def _last(bot: BotProcess) -> dict[str, Any]:
    last: dict[str, Any] = bot.trading_state()["controls"]["last"] or {}
    return last


def test_over_the_cap_is_refused_at_once_and_a_correction_is_applied(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path, CAPS).start()
    try:
        bot.wait_ready()
        controls = tmp_path / "controls"
        rejected = controls / "ADJUST_RISK.rejected"
        # A modification time an hour ahead keeps a file "young" for good: a refusal that
        # waited for the file to settle would never come.
        _rename_in(controls, '{"max_position_usd": 1000}', mtime=time.time() + 3600)
        note = eventually(lambda: rejected.exists() and rejected.read_text(), timeout=15)
        assert "max_position_usd: 1000 is above the owner's cap of $8.00" in note.splitlines()[0]
        last = eventually(lambda: (c := _last(bot)).get("result") == "REJECTED" and c)
        assert "above the owner's cap" in last["reason"]
        assert not (controls / "ADJUST_RISK").exists()
        # the writer reacts to the note by renaming a corrected file into place at once
        for value in (3, 2, 4):
            rejected.unlink()
            _rename_in(controls, '{"max_position_usd": 9}')
            eventually(rejected.exists, timeout=15)
            _rename_in(controls, f'{{"max_position_usd": {value}}}')
            limits = eventually(
                lambda v=value: (
                    (e := bot.trading_state()["controls"]["effective_limits"])["max_position_usd"] == v and e
                ),
                timeout=15,
            )
            assert limits["caps"]["max_position_usd"] == 8
        assert _last(bot)["result"] == "APPLIED"
        # status.json is written on its own beat, after trading_state.json: wait for it
        eventually(lambda: bot.status()["limits"]["max_position_usd"]["value"] == 4, timeout=15)
    finally:
        bot.stop()


def _limits() -> Limits:
    five, eight = to_micros(5), to_micros(8)
    return Limits(five, five, eight, eight, ("BTC",), ("edge",), Mode.PAPER)


def test_only_a_file_that_may_be_cut_short_counts_as_incomplete() -> None:
    cut_short = [b"", b"  \n", b'{"max_position_usd": 2', b'{"max_pos', b"\xe2\x82"]
    complete = [b'{"max_position_usd": 1000}', b"1000", b'{"leverage": 2}', b'{"max_position_usd": "x"}']
    for data in cut_short + complete:
        with pytest.raises(AdjustError) as info:
            parse(data, _limits())
        assert info.value.incomplete is (data in cut_short), (data, info.value)
