"""Run-time switchable fault injection.

Faults are decided before an operation touches any data, so a faulted call never writes.
A hung call sleeps ``hang_seconds`` (so client read timeouts fire) and then answers
``InternalServerException`` without doing anything: whether the client waited or gave up,
nothing was written. One random draw per matching call, from a generator seeded by ``seed``,
makes fault sequences reproducible.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from emulator.errors import ApiError


@dataclass(frozen=True)
class FaultSettings:
    """Fault rates (probabilities per call) and delays; all zero means no faults."""

    throttle: float = 0.0
    internal: float = 0.0
    hang: float = 0.0
    hang_seconds: float = 40.0
    latency_ms: float = 0.0
    seed: int | None = None
    operations: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FaultSettings:
        """Build settings from the admin JSON body, refusing unknown keys and bad values."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        values = dict(raw)
        if values.get("operations") is not None:
            values["operations"] = tuple(str(op) for op in values["operations"])
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        rates = (self.throttle, self.internal, self.hang)
        if any(not isinstance(r, (int, float)) or not 0 <= r <= 1 for r in rates) or sum(rates) > 1:
            raise ValueError("throttle, internal and hang must be probabilities in [0, 1] summing to at most 1")
        if self.hang_seconds < 0 or self.latency_ms < 0:
            raise ValueError("hang_seconds and latency_ms must not be negative")

    def to_json(self) -> dict[str, Any]:
        """The settings as served by ``GET /__admin/faults``."""
        data = asdict(self)
        data["operations"] = list(self.operations) if self.operations is not None else None
        return data


class FaultInjector:
    """Applies the current ``FaultSettings`` to each API call."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._rng = random.Random()

    @property
    def settings(self) -> FaultSettings:
        """The settings in force."""
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        """Replace the settings and reseed the generator."""
        with self._lock:
            self._settings = settings
            self._rng = random.Random(settings.seed)

    def decide(self, operation: str) -> str | None:
        """Sleep the configured latency, then pick 'throttle', 'internal', 'hang' or None."""
        settings = self._settings
        if settings.operations is not None and operation not in settings.operations:
            return None
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        if not (settings.throttle or settings.internal or settings.hang):
            return None
        with self._lock:
            draw = self._rng.random()
        for kind, rate in (("throttle", settings.throttle), ("internal", settings.internal), ("hang", settings.hang)):
            if draw < rate:
                return kind
            draw -= rate
        return None

    def raise_fault(self, kind: str) -> None:
        """Answer the chosen fault as AWS would (after hanging, for 'hang')."""
        if kind == "throttle":
            raise ApiError("ThrottlingException", "Rate exceeded (injected fault).", 400)
        if kind == "hang":
            self._stopping.wait(self._settings.hang_seconds)
            raise ApiError("InternalServerException", "The request hung and was abandoned (injected fault).", 500)
        raise ApiError("InternalServerException", "Internal server error (injected fault).", 500)
