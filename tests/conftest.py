from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import BotProcess

if TYPE_CHECKING:  # the servers load only for the tests that use them
    from tests.venue import LiveVenue


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotProcess]:
    process = BotProcess(tmp_path)
    yield process
    process.stop()


@pytest.fixture
def venue() -> Iterator[LiveVenue]:
    """The local CLOB with one market (tests/venue.py: CONDITION, UP at 0.45/0.47, DOWN at
    0.53/0.55, ending in 30 minutes)."""
    from tests.venue import LiveVenue

    with LiveVenue.start() as local:
        local.add_market()
        yield local
