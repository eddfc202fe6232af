"""Query timeouts: one thread that interrupts DuckDB work running past its deadline.

A ``threading.Timer`` per call would start a thread for every page served, which costs more
than serving a page. Every guarded call gets the same timeout, so deadlines expire in the
order they were set, and an insertion-ordered dict is the whole schedule.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("emulator")


class Watchdog:
    """Calls ``on_expiry`` of a guarded block that runs longer than ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._wake = threading.Condition(threading.Lock())
        self._pending: dict[int, tuple[float, Callable[[], None]]] = {}
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def guard(self, on_expiry: Callable[[], None]) -> Iterator[None]:
        """Run the block; ``on_expiry`` is called from the watchdog's thread if it overruns."""
        key = next(self._keys)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="emulator-watchdog", daemon=True)
                self._thread.start()
            if not self._pending:
                self._wake.notify()  # it sleeps without a deadline
            self._pending[key] = (time.monotonic() + self.seconds, on_expiry)
        try:
            yield
        finally:
            with self._wake:
                self._pending.pop(key, None)

    def close(self) -> None:
        """Stop the thread; blocks guarded afterwards are no longer timed."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                if not self._pending:
                    self._wake.wait()
                    continue
                key, (deadline, on_expiry) = next(iter(self._pending.items()))
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                del self._pending[key]
                try:
                    on_expiry()  # an interrupt returns at once
                except Exception:  # a cursor closed meanwhile, say: the watchdog must keep running
                    log.exception("query timeout action failed")
