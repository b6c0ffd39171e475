"""What the operator commands share: the --home option and its rule, --json, --mode, --timeout.

bot/cli.py (which registers the commands of bot/cli_operator.py) and bot/cli_operator.py
both use these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from bot.errors import exit_code

Home = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="TOUCHTRADER_HOME",
        help="The bot's folder (state/, controls/, logs/); default: $TOUCHTRADER_HOME, else the"
        " current folder.",
        show_default=False,
    ),
]
Timeout = Annotated[
    float, typer.Option(help="Seconds to wait for the running bot to acknowledge (exit 4 if it does not).")
]


def existing_home(option: Path | None, command: str) -> Path:
    """An existing bot home, or a one-line error and exit 2 (see bot/home.py)."""
    from bot import home

    try:
        return home.require(home.resolve(option))
    except home.NotAHome as exc:
        fail(command, exc)


def fail(command: str, error: BaseException) -> NoReturn:
    """`bot COMMAND: what went wrong` on stderr, one line; exit with the error's code
    (bot/errors.py `exit_code`, the one table of them)."""
    typer.echo(f"bot {command}: {error}", err=True)
    raise typer.Exit(exit_code(error)) from None


Mode = Annotated[str | None, typer.Option(help="Only this mode: paper, dry-run, live (default: all).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (money in *_micros and in USDC).")]
