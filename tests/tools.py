"""Tools some suites need that pip does not install: a missing one fails the run, naming the install.

``make test`` must not pass by skipping what it could not run. Whoever knowingly runs without a
tool sets ``SKIP_MISSING_TOOLS=1``: the tests that need it are then skipped, and say why.
"""

from __future__ import annotations

import os

import pytest

OPT_OUT = "SKIP_MISSING_TOOLS"


def missing(tool: str, install: str) -> None:
    """End the test because ``tool`` is absent: a failure, or a skip under the opt-out."""
    message = f"{tool} is missing: {install} (or set {OPT_OUT}=1 to skip the tests that need it)"
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip(message)
    pytest.fail(message)
