"""Prometheus remote write and remote read for Amazon Timestream."""
