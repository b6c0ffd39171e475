"""The supervisor in-process: venue-error bursts and invariants halt, RESET clears, and the
scorecard disables a losing strategy."""

from __future__ import annotations

from pathlib import Path

from bot.clock import SimulatedClock
from bot.config import load_config
from bot.engine import Engine
from bot.errors import VenueFatal, VenueUnavailable
from bot.journal import Journal, Restored
from bot.layout import Paths
from bot.model import ONE, Outcome, Position, TradingState
from bot.strategies import build_strategies
from bot.venues.paper import PaperVenue
from bot.wiring import build_engine

T0 = 1_800_000_000_000


class NoFeed:
    def peek_ms(self) -> None:
        return None

    def next_batch(self) -> list[object]:
        return []


def make_engine(home: Path, **overrides: object) -> Engine:
    paths = Paths(home)
    for folder in (paths.state, paths.controls, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    config = load_config(None, dict(overrides))
    journal = Journal(home / "state" / "bot.db")
    engine = build_engine(
        config=config,
        paths=paths,
        journal=journal,
        venue=PaperVenue(cash=100 * ONE),
        feed=NoFeed(),
        clock=SimulatedClock(T0),
        strategies=build_strategies(("canary", "edge"), {}),
        restored=Restored.empty(),
        start_ms=T0,
        wallet="TEST",
    )
    engine.portfolio.deposit(100 * ONE, T0, "test")
    return engine


def test_three_venue_errors_in_the_window_halt_and_reset_clears(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    sup = engine.supervisor
    sup.venue_error(VenueUnavailable("503"), T0)
    sup.venue_error(VenueUnavailable("timeout"), T0)
    assert engine.supervisor.trading_state is TradingState.ACTIVE
    sup.venue_error(VenueUnavailable("429"), T0)
    assert engine.supervisor.trading_state is TradingState.HALTED
    assert "3 venue errors" in sup.halted
    assert engine.supervisor.entry_block().startswith("trading state HALTED")
    assert engine.journal.runtime()["halted"] == sup.halted
    (tmp_path / "controls" / "RESET").write_text("")
    sup.apply_controls()
    assert engine.supervisor.trading_state is TradingState.ACTIVE
    assert "halted" not in engine.journal.runtime()
    assert not (tmp_path / "controls" / "RESET").exists()


def test_a_fatal_venue_error_halts_at_once(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    engine.supervisor.venue_error(VenueFatal("401 unauthorized"), T0)
    assert engine.supervisor.trading_state is TradingState.HALTED
    assert "401" in engine.supervisor.halted


def test_invariant_failure_halts_with_the_check_name(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    engine.commit()
    engine.supervisor.check_invariants(deep=True)
    assert engine.supervisor.trading_state is TradingState.ACTIVE
    engine.portfolio.cash -= 1  # the books no longer match the ledger
    engine.supervisor.check_invariants(deep=True)
    assert engine.supervisor.trading_state is TradingState.HALTED
    assert "journal_cash" in engine.supervisor.halted


def test_scorecard_disables_a_losing_strategy_and_adjust_risk_reenables(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        **{"risk.disable_losing_strategies": True, "risk.disable_after_trades": 5},
    )
    for i in range(5):
        p = Position(f"M{i}", Outcome.UP, strategy="edge", realized=-ONE if i else ONE)
        engine.supervisor.position_closed(p)
    assert "edge" in engine.risk.disabled
    card = engine.scorecard.view()["edge"]
    assert card["trades"] == 5
    assert card["wins"] == 1
    assert card["win_rate"] == 0.2
    types = [a["type"] for a in engine.activity.recent]
    assert "STRATEGY_DISABLED" in types
    (tmp_path / "controls" / "ADJUST_RISK").write_text('{"allowed_strategies": ["edge", "canary"]}')
    engine.supervisor.apply_controls()
    assert "edge" not in engine.risk.disabled
    # counting starts again after the re-enable: four more losses do not disable it yet
    for i in range(4):
        engine.supervisor.position_closed(Position(f"N{i}", Outcome.UP, strategy="edge", realized=-ONE))
    assert "edge" not in engine.risk.disabled


def test_adjust_risk_changes_the_one_holder_the_gate_and_the_state_files_read(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    holder = engine.supervisor.limits
    assert engine.risk.limits is holder
    assert engine.limits is holder
    (tmp_path / "controls" / "ADJUST_RISK").write_text('{"max_position_usd": 3}')
    engine.supervisor.apply_controls()
    assert holder.value.max_position == 3 * ONE
    snap = engine.snapshot(for_status=True)
    assert snap.limits.max_position == 3 * ONE
    assert snap.controls["effective_limits"]["max_position_usd"] == 3.0
    assert engine.journal.runtime()["max_position_usd"] == "3"
