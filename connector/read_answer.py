"""The answer of one remote read as it is built: one result per query, its type, and the size it must fit.

It must fit what the front door can return (Lambda: 6 MB after base64, so about 4.5 MB of body;
the local server allows more): a larger answer is refused with 413 naming the limit and the
query, never truncated, because Prometheus shows the body to the user and a shortened series is
wrong data. Reading stops as soon as the answer certainly cannot fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.errors import PayloadTooLarge
from connector.prom import read_codec
from connector.prom.series import Series
from connector.timestream.series import SeriesBuilder

# Encoded bytes per sample, at most, for early size estimates: SAMPLES before snappy (tags, double,
# varint time), XOR chunks for values that differ in most bits.
_BYTES_PER_SAMPLE = {read_codec.SAMPLES: 18, read_codec.STREAMED_XOR_CHUNKS: 10}
_BYTES_PER_LABEL = 16


class ReadAnswer:
    """The results so far of one request, in query order, and how they will be encoded."""

    def __init__(self, response_type: int, limit: int) -> None:
        self.response_type, self.limit = response_type, limit
        self.headers = read_codec.headers(response_type)
        self.results: list[list[Series]] = []

    def encode(self, results: Sequence[Sequence[Series]] | None = None) -> bytes:
        return read_codec.encode(self.response_type, self.results if results is None else results)

    def budget(self, index: int) -> Budget:
        """A budget for query ``index``, counting the results of the queries before it."""
        return Budget(self, self.results[:index])

    def too_large(self, size: int, where: object | None) -> PayloadTooLarge:
        named = f" ({where})" if where is not None else ""
        return PayloadTooLarge(
            f"remote read answer{named} is at least {size} bytes, above the limit of {self.limit} bytes "
            "(MAX_READ_RESPONSE_BYTES; AWS Lambda returns at most 6 MB after base64 encoding); "
            "narrow the query: a shorter time range or more selective matchers"
        )


class Budget:
    """Stops reading once the answer certainly cannot fit, instead of after reading everything.

    The encoded size is only known by encoding, so a trial encoding runs each time the raw
    estimate doubles past the limit (amortised cost: at most one more full encoding). More rows
    only add bytes, so a trial already over the limit means the final answer is too.
    """

    def __init__(self, answer: ReadAnswer, before: Sequence[Sequence[Series]]) -> None:
        self._answer, self._before = answer, before
        self._per_sample = _BYTES_PER_SAMPLE[answer.response_type]
        self._before_estimate = sum(self._estimate(len(s.samples), len(s.labels) * _BYTES_PER_LABEL)
                                    for result in before for s in result)  # fmt: skip
        self._next_check = answer.limit
        self.trial_bytes = 0

    def over(self, builder: SeriesBuilder) -> bool:
        estimate = self._before_estimate + self._estimate(builder.samples, builder.label_chars)
        if estimate < self._next_check:
            return False
        self._next_check *= 2
        self.trial_bytes = len(self._answer.encode([*self._before, builder.series()]))
        return self.trial_bytes > self._answer.limit

    def _estimate(self, samples: int, label_chars: int) -> int:
        return samples * self._per_sample + label_chars
