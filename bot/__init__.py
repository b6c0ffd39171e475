"""touchtrader: a trading bot for Polymarket-style binary markets, operated through files."""

__version__ = "0.1.0"
