"""Benchmarks of symbp: `python -m benchmarks` (see README.md)."""
