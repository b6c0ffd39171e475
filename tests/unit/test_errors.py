"""The error tree (bot/errors.py): every exception class under bot/ is in it, and its two
tables, `reaction()` and `exit_code()`, answer for every class."""

from __future__ import annotations

import ast
import importlib
import sqlite3
from pathlib import Path

import pytest

import bot
from bot import errors
from bot.errors import (
    EXIT_CODES,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_REFUSED,
    REACTIONS,
    BotError,
    Reaction,
    exit_code,
    reaction,
)

ROOT = Path(bot.__file__).parent


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined at the top of a module under bot/, by dotted name:
    found in the source (ast), then looked up in the imported module."""
    found: dict[str, type[BaseException]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "__main__.py":  # runs the CLI when imported
            continue
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        classes = [n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]
        if not classes:
            continue
        module = importlib.import_module(name)
        for cls_name in classes:
            cls = getattr(module, cls_name)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found[f"{name}.{cls_name}"] = cls
    return found


CLASSES = _exception_classes()


def test_the_walk_finds_the_errors_of_every_layer() -> None:
    """The walk below cannot pass by finding nothing: it sees errors of every layer."""
    expected = {
        "bot.errors.VenueBusy",
        "bot.config.ConfigError",
        "bot.runtime.AdjustError",
        "bot.safefile.FileRefused",
        "bot.feeds.tape_file.DataError",
        "bot.venues.polymarket.wire_fields.ParseError",  # under bot/venues, a folder without __init__.py
        "bot.testing.clob_wire.ClobError",
        "bot.home.NotAHome",
    }
    assert expected <= set(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_exception_class_under_bot_derives_from_bot_error(name: str) -> None:
    assert issubclass(CLASSES[name], BotError), f"{name} is not in the tree of bot/errors.py"


@pytest.mark.parametrize(
    ("name", "also"),
    [
        ("bot.runtime.AdjustError", ValueError),
        ("bot.feeds.tape_file.DataError", ValueError),
        ("bot.feeds.formats.values.AmbiguousValue", ValueError),
        ("bot.schema_files.UnknownSchema", ValueError),
        ("bot.config.ConfigError", ValueError),
        ("bot.safefile.FileRefused", OSError),
    ],
)
def test_errors_that_joined_the_tree_are_still_caught_as_before(name: str, also: type) -> None:
    assert issubclass(CLASSES[name], also)


def test_file_refused_is_still_an_os_error_with_its_reason() -> None:
    from bot.safefile import FileRefused

    with pytest.raises(OSError, match=r"^is a FIFO$"):
        raise FileRefused("is a FIFO")


def test_every_class_of_bot_errors_has_its_own_reaction() -> None:
    """A class added to bot/errors.py must be given a reaction, not inherit one unseen."""
    own = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, BotError)]
    assert len(own) >= 8
    missing = [c.__name__ for c in own if c not in REACTIONS]
    assert not missing, f"no line in REACTIONS for {missing}"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_reaction_answers_for_every_error_class_through_its_table(name: str) -> None:
    cls = CLASSES[name]
    lines = [c for c in cls.__mro__ if c in REACTIONS]
    assert lines, f"reaction() has no line for {name} or any of its parents"
    error = cls.__new__(cls)  # no constructor run: some take arguments
    assert reaction(error) is REACTIONS[lines[0]]


def test_reactions_of_the_venue_errors() -> None:
    from bot.markets.client import GammaRefused, GammaUnavailable

    assert reaction(errors.OrderRefused("tick size")) is Reaction.SKIP
    assert reaction(errors.VenueBusy("425")) is Reaction.WAIT
    assert reaction(errors.VenueUnavailable("timeout", 2.0)) is Reaction.RETRY
    assert reaction(GammaUnavailable("502")) is Reaction.RETRY
    assert reaction(errors.VenueError("odd")) is Reaction.RETRY  # counted by the breaker
    assert reaction(GammaRefused("404")) is Reaction.RETRY
    assert reaction(errors.VenueFatal("401")) is Reaction.HALT
    assert reaction(errors.StorageError("disk full")) is Reaction.HALT
    assert reaction(RuntimeError("a bug")) is Reaction.HALT  # the unforeseen halts


def test_exit_codes() -> None:
    from bot.config import ConfigError
    from bot.home import NotAHome
    from bot.queries import QueryError
    from bot.steer import SteerError

    assert exit_code(errors.StartupRefused("another instance")) == EXIT_REFUSED == 3
    assert exit_code(ConfigError("risk.x: not a number")) == EXIT_CONFIG == 2
    assert exit_code(errors.StorageError("disk full")) == EXIT_CONFIG  # at start-up: StartupRefused
    for error in (NotAHome("x"), QueryError("x"), SteerError("x"), ValueError("x")):
        assert exit_code(error) == 2
    assert exit_code(sqlite3.DatabaseError("malformed")) == 2
    assert exit_code(ImportError("no rich")) == 2
    assert exit_code(RuntimeError("a bug")) == EXIT_ERROR == 1
    assert all(isinstance(code, int) for code in EXIT_CODES.values())
