"""Which venue offers which optional feature (bot/venues/base.py). The features are
structural, so a renamed method would silently turn a check off: this pins them down on the
real venue classes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.model import ONE, Outcome
from bot.venues.base import (
    HoldsPositions,
    ReportsFailedFills,
    SimulatesFills,
    TracksOrderStatus,
    Venue,
    holds_positions,
    reports_failed_fills,
    tracks_order_status,
)
from bot.venues.dry_run import DryRunVenue
from bot.venues.paper import PaperVenue
from bot.venues.polymarket import PolymarketCredentials, PolymarketVenue

KEY = "0x" + "11" * 32  # a throwaway key, not a wallet


@pytest.fixture
def venues(tmp_path: Path) -> Iterator[dict[str, Venue]]:
    # 127.0.0.1:9 is never asked: constructing the venue sends nothing
    live = PolymarketVenue("http://127.0.0.1:9", credentials=PolymarketCredentials(KEY))
    yield {"paper": PaperVenue(), "dry_run": DryRunVenue(tmp_path / "d.jsonl"), "live": live}
    live.close()


def test_each_venue_offers_exactly_its_features(venues: dict[str, Venue]) -> None:
    offered = {
        name: sorted(
            feature.__name__
            for feature in (TracksOrderStatus, ReportsFailedFills, HoldsPositions, SimulatesFills)
            if isinstance(venue, feature)
        )
        for name, venue in venues.items()
    }
    assert offered == {
        "paper": ["HoldsPositions", "SimulatesFills"],
        "dry_run": ["SimulatesFills"],
        "live": ["ReportsFailedFills", "TracksOrderStatus"],
    }


def test_the_remembered_answers_are_isinstance(venues: dict[str, Venue]) -> None:
    for venue in venues.values():
        for _ in range(2):  # the first call asks isinstance, the second the memory
            assert tracks_order_status(venue) is isinstance(venue, TracksOrderStatus)
            assert reports_failed_fills(venue) is isinstance(venue, ReportsFailedFills)
            assert holds_positions(venue) is isinstance(venue, HoldsPositions)


def test_resuming_the_books_of_a_simulated_exchange(venues: dict[str, Venue]) -> None:
    paper, dry = venues["paper"], venues["dry_run"]
    assert isinstance(paper, PaperVenue)
    assert isinstance(dry, DryRunVenue)
    paper.resume_books(7, 5 * ONE, [], {("M", Outcome.UP): 3 * ONE}, [])
    dry.resume_books(8, 4 * ONE, [], {}, [])
    dry.deposit(ONE)
    assert (paper.id_prefix, paper.balance(), paper.holdings) == (
        "P7-",
        5 * ONE,
        {("M", Outcome.UP): 3 * ONE},
    )
    assert (dry.paper.id_prefix, dry.balance()) == ("D8-", 5 * ONE)


def test_a_live_venue_without_failed_fills_reports_none(venues: dict[str, Venue]) -> None:
    live = venues["live"]
    assert isinstance(live, PolymarketVenue)
    assert live.take_failed_fill() is None
    assert live.order_status("nobody") is None


def test_the_wire_parsers_load_without_the_venue_and_the_public_names_still_resolve() -> None:
    probe = (
        "import sys, bot.venues.polymarket.wire, bot.venues.polymarket.pacing\n"
        "print(sorted(m for m in sys.modules if m.startswith('bot.venues.polymarket.')))\n"
        "from bot.venues.polymarket import PolymarketVenue, classify_status, credentials_from_env, mask\n"
        "print(PolymarketVenue.__module__, classify_status.__module__, mask.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded, homes = out.stdout.splitlines()
    assert loaded == str(
        ["bot.venues.polymarket.pacing", "bot.venues.polymarket.wire", "bot.venues.polymarket.wire_fields"]
    )
    assert homes == (
        "bot.venues.polymarket.venue bot.venues.polymarket.transport bot.venues.polymarket.credentials"
    )
