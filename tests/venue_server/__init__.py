"""Tests of the local CLOB V2 stand-in (bot.testing.clob_server)."""
