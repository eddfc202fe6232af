"""An embedded, offline, Timestream-compatible store (DuckDB) for tests and local runs.

Never shipped in the Lambda artifact. Entry point: ``emulator.server.EmbeddedTimestream``.
"""
