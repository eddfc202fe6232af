"""``--max-samples-per-second``: a token bucket every WriteRecords call takes its records from.

The bucket holds at most one second of tokens, so an idle spell allows no burst beyond that. A
call larger than what is left goes into debt and the next taker waits it off: a limit below the
100 records of a full call still holds on average, and no call is ever split to fit it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"the rate must be above zero, got {rate}")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = rate
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self, count: int) -> float:
        """Take ``count`` tokens, first waiting until the bucket is out of debt; returns the seconds waited."""
        with self._lock:  # takers queue here: each waits its turn, in order
            now = self._clock()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            if wait:
                self._sleep(wait)
                self._tokens = 0.0
                self._stamp = self._clock()
            self._tokens -= count
            return wait
