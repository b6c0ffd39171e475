"""The shipped JSON Schemas: valid, closed wherever a shape is fixed, printed by `bot schema`."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from bot import schema_files
from tests.schema_check import problems


def _objects(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "properties" in node:
            out.append((where or "/", node))
        for key, value in node.items():
            out += _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _objects(value, f"{where}/{i}")
    return out


@pytest.mark.parametrize("name", list(schema_files.NAMES))
def test_each_schema_is_valid_and_closed(name: str) -> None:
    schema = schema_files.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    objects = _objects(schema)
    assert objects
    for where, node in objects:
        assert node.get("additionalProperties") is False, f"{name}{where} is open to unknown fields"
        assert set(node["required"]) <= set(node["properties"]), f"{name}{where}"
        for key, sub in node["properties"].items():
            assert sub.get("description") or "const" in sub, f"{name}{where}/{key} has no description"


def test_names_and_aliases() -> None:
    assert schema_files.canonical("state/status.json") == "status"
    assert schema_files.canonical("ADJUST_RISK") == "adjust_risk"
    assert schema_files.canonical("trades-today") == "trades_today"
    with pytest.raises(schema_files.UnknownSchema, match="known: status, trading_state"):
        schema_files.canonical("orders")


def test_bot_schema_prints_the_shipped_file_and_lists_the_names() -> None:
    run = [sys.executable, "-m", "bot", "schema"]
    listing = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[0] for line in listing.stdout.splitlines()] == list(schema_files.NAMES)
    status = subprocess.run([*run, "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == schema_files.load("status")
    assert "every limit in force" in status.stdout
    bad = subprocess.run([*run, "positions"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "bot schema: no schema named 'positions'; known: "
        "status, trading_state, trades_today, reconciliation, adjust_risk,"
        " inbox_forecast, inbox_order, inbox_ack, signal"
    )


def test_adjust_risk_json_form() -> None:
    assert problems("adjust_risk", {"max_position_usd": 2.5, "allowed_instruments": ["BTC"]}) == []
    assert problems("adjust_risk", {"allowed_strategies": None, "max_session_loss": "7"}) == []
    assert problems("adjust_risk", {}) != []  # at least one key
    assert any(
        "'max_positon_usd' was unexpected" in p for p in problems("adjust_risk", {"max_positon_usd": 2})
    )


def test_an_unknown_field_fails_at_every_level() -> None:
    """The check the integration tests rely on: a field written but not in the schema."""
    row = {
        "value": 5.0,
        "source": "default",
        "cap": 5.0,
        "cap_source": "default",
        "adjustable": True,
    }
    minimal = {
        "schema_version": 2,
        "date": "2026-11-22",
        "last_updated": "2026-11-22T03:05:24.000Z",
        "last_updated_epoch_s": 1795835124.0,
        "trades": [],
        "summary": {
            "total_trades": 0,
            "closed_trades": 0,
            "open_trades": 0,
            "wins": 0,
            "losses": 0,
            "total_pnl": 0.0,
            "total_fees": 0.0,
            "win_rate": None,
            "closed_fees": 0.0,
            "open_fees": 0.0,
        },
    }
    assert problems("trades_today", minimal) == []
    extra = copy.deepcopy(minimal)
    extra["summary"]["fees_total"] = 0.0
    assert any("fees_total" in p and "/summary" in p for p in problems("trades_today", extra))
    missing = copy.deepcopy(minimal)
    del missing["summary"]["open_fees"]
    assert any("'open_fees' is a required property" in p for p in problems("trades_today", missing))
    extra = copy.deepcopy(minimal)
    extra["total"] = 1
    assert any("'total' was unexpected" in p for p in problems("trades_today", extra))
    limits = jsonschema.Draft202012Validator(
        schema_files.load("status")["properties"]["limits"]["properties"]["max_open_orders"]
    )
    assert list(limits.iter_errors({**row, "value": 7, "cap": 7})) == []
    assert list(limits.iter_errors({**row, "value": 7, "cap": 7, "unit": "orders"}))
    assert list(limits.iter_errors({**row, "source": "env"}))
