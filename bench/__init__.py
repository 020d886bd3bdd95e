"""Reproducible benchmarks, run by `make bench` (`python -m bench.run`); results go to bench/results/."""
