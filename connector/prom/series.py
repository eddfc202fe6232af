"""A Prometheus series as remote read returns it: sorted labels and time-ordered samples.

The Prometheus side's own model, so codecs never need to know where series come from.
"""

from __future__ import annotations

from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]
Sample = tuple[int, float]


@dataclass(frozen=True)
class Series:
    labels: Labels  # sorted by name, unique, no empty values
    samples: list[Sample]  # ascending by timestamp; empty for a series look-up
