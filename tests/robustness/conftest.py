"""Robustness fixtures: the shared store and front doors, and a capture of the connector's log
lines (tests/store_fixtures.py)."""

from tests.store_fixtures import (  # noqa: F401 - fixtures, registered by being imported
    _no_faults,
    connector_logs,
    door,
    lambda_door,
    query,
    server_door,
    settings,
    store,
)
