"""Prometheus remote write and remote read for Amazon Timestream."""

__version__ = "0.1.0"
