"""Benchmarks for both halves of the project: the reference server against llama-cpp-python (in-process
and its own server), under load and disconnects, and the harness's own overhead and speed limit.

Run it with `bench/run` (see `bench/run --help`); it prints a table of ratios and writes
`bench/results.json`. Every figure is the median of several runs, reported with its spread.
"""
