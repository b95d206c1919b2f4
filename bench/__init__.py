"""Benchmarks of the workshop server's fan-out against naive baselines: ``python -m bench --help``.

The load generator runs many lean WebSocket clients per process (``bench.wsclient``), in several
processes (``bench.worker``), on an open-loop schedule. The servers run as real processes
(``bench.servers``); the naive baselines are in ``bench.baselines``. Results go to ``bench/results/``.
"""
