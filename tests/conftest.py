from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import BotProcess


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotProcess]:
    process = BotProcess(tmp_path)
    yield process
    process.stop()
