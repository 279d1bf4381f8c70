"""Benchmarks of the relay (issue 7): every figure next to its floor, measured in the same run.

`make bench` (or `python -m bench`, `--quick` for a one-minute run) starts the native stack with
the simulator runner, runs each scenario, prints one table and writes `bench/results/<scenario>.json`.
"""
