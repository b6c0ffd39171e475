"""The `bot` command's entry point.

`bot status` is what people and agents run most, often in a loop: it is answered here
with the standard library alone, before typer (and the pydantic it pulls in when installed)
is imported; that halves its start time. Every other command, and `bot status --help`, goes
to the typer app in bot/cli.py.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["status"] and _fast_status(args[1:]):
        return
    from bot.cli import main as cli_main

    cli_main()


def _fast_status(args: list[str]) -> bool:
    home: Path | None = None
    as_json = False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--json":
            as_json = True
        elif arg == "--home" and rest:
            home = Path(rest.pop(0))
        elif arg.startswith("--home="):
            home = Path(arg.split("=", 1)[1])
        else:
            return False  # --help or anything unusual: typer answers
    from bot.home import resolve
    from bot.reader import status_command

    raise SystemExit(status_command(resolve(home), as_json))
