"""Benchmarks of the connector: ``python -m bench`` (``make bench``) runs them all.

One module per measurement (``cpu``, ``latency``, ``billing``, ``coldstart``, ``memory``); each has a
``run(...)`` that returns table rows, sized by keyword arguments so the smoke tests can run them tiny.
The embedded store always runs in its own process (``bench.store``) so its CPU and memory are never
counted against the connector, as real Timestream is remote too.
"""
