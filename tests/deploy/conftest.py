"""Deployment tests: the SAM template's shape and the Lambda artifact built the way `sam build` builds it."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Registered here because --strict-markers is on and this suite owns the marker.
    config.addinivalue_line("markers", "deploy: builds or inspects the Lambda artifact (needs PyPI, ~1 min)")
