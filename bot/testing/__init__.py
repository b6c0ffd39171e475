"""Test and benchmark infrastructure shipped with the package (local venue stand-ins)."""
