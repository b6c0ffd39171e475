"""Benchmarks: each script prints its figures as JSON. Run them with `make bench`."""
