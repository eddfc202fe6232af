"""The suite's own promises (tests/README.md): repeatable Hypothesis examples, a time bound on every test."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


def test_hypothesis_draws_the_same_examples_on_every_run() -> None:
    if os.environ.get("HYPOTHESIS_PROFILE", "repeatable") != "repeatable":
        pytest.skip("another profile was asked for")
    assert settings.default.derandomize, "tests/conftest.py's repeatable profile is not loaded"


def test_every_test_has_a_time_bound(pytestconfig: pytest.Config) -> None:
    assert float(pytestconfig.getini("timeout")) > 0, "pytest-timeout bounds every test (pyproject.toml)"
