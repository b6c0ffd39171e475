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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "venue(**servers): more servers for the `venue` fixture (tests/venue.py LiveVenue.start)"
    )


@pytest.fixture
def venue(request: pytest.FixtureRequest) -> Iterator[LiveVenue]:
    """The local CLOB with one market (tests/venue.py: CONDITION, UP at 0.45/0.47, DOWN at
    0.53/0.55, ending in 30 minutes); `pytest.mark.venue(user_ws=True)` on a test or a module
    starts more servers beside it."""
    from tests.venue import LiveVenue

    marker = request.node.get_closest_marker("venue")
    with LiveVenue.start(**(marker.kwargs if marker else {})) as local:
        local.add_market()
        yield local
