"""Checking a state or control file against its shipped JSON Schema (bot/schemas/*.json)."""

from __future__ import annotations

from typing import Any

import jsonschema

from bot import schema_files

_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def problems(name: str, data: Any) -> list[str]:
    """Every way `data` breaks schema `name`, one line each: the path and the message."""
    v = _VALIDATORS.get(name)
    if v is None:
        v = _VALIDATORS[name] = jsonschema.Draft202012Validator(schema_files.load(name))
    return [
        f"{name}: /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in sorted(v.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]


def assert_valid(name: str, data: Any) -> None:
    found = problems(name, data)
    assert not found, "\n".join(found)
