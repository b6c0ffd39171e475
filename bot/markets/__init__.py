"""Market discovery from Polymarket's Gamma API (docs/polymarket-discovery.md).

    series.py     the recurring up/down series the bot knows and their window slugs
    gamma.py      pure parsers: Gamma JSON → GammaMarket (tokens through outcomes), resolution
    rules.py      does a market follow the rule the bot knows? (else one reason to skip it)
    client.py     the HTTP client (httpx), errors wrapped into bot.errors
    discovery.py  Discovery.upcoming()/resolutions() for a live loop; explicit markets; search
    listing.py    `bot markets`

Nothing here is imported by `bot status`, the engine or the paper venue.
"""
