"""Settings of the Python process the connector runs in (the Lambda runtime's, ``serve``'s, ``backfill``'s)."""

from __future__ import annotations

import gc

# Objects a request keeps alive until it is answered (a record tuple per sample, its calls and
# their answers), times the requests in flight. With a young generation smaller than that, they
# are collected while alive, promoted and scanned again, and their promotions bring on full
# collections of the whole process (botocore's models, the series cache): at 10,000 samples/s
# that cost about an eighth of the connector's CPU. Reference counting frees them once answered.
YOUNG_GENERATION_OBJECTS = 50_000


def tune_garbage_collector() -> None:
    """Collect the young generation only past what requests in flight hold; older ones as before."""
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_GENERATION_OBJECTS), older, oldest)
