"""Market data in and out: the bot's own tape (tape.py) and backtest input formats (formats.py)."""
