"""Benchmarks and baselines for gradlab (outside the installed package)."""
