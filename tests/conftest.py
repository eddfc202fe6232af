"""Settings every suite shares: Hypothesis draws the same examples on every run and machine.

The default profile is derandomized (examples seeded from each test's own code), so a failure in CI
is a failure on every laptop. ``HYPOTHESIS_PROFILE=explore`` draws fresh examples instead and, on
a failure, prints the ``@reproduce_failure`` blob that replays it. Every test is also bounded in
time by pytest-timeout (``timeout`` in pyproject.toml): none can block for ever.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
