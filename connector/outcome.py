"""The HTTP answer to a remote write: Prometheus retries 5xx and drops the batch on any other 4xx."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from connector.http import Response
from connector.prom.write_codec import written_headers
from connector.timestream.errors import Kind
from connector.timestream.statuses import DEADLINE_STATUS, RESENDABLE, STATUS, headers_for
from connector.timestream.writer import WriteResult

_REASONS_SHOWN = 5


@dataclass
class WriteOutcome:
    samples: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    # Exemplars a 2.0 request carried, by reason: never stored, so the answer may not be a 2xx.
    refused: Counter[str] = field(default_factory=Counter)
    result: WriteResult = field(default_factory=WriteResult)
    v2: bool = False  # a 2.0 answer reports histograms and exemplars written too

    @property
    def written(self) -> int:
        return self.result.written

    @property
    def dropped(self) -> int:
        return sum(self.invalid.values()) + sum(self.result.rejected.values())

    def summary(self) -> dict[str, object]:
        """Counts for the log line every write emits."""
        return {
            "samples": self.samples,
            "written": self.written,
            "invalid": dict(self.invalid),
            "rejected": dict(self.result.rejected),
            "ignored": dict(self.ignored),
            "refused": dict(self.refused),
            "protocol": "2.0" if self.v2 else "1.0",
            "failed": self.result.failed,
            "unfinished": self.result.unfinished,
            "attempts": self.result.attempts,
        }

    def response(self) -> Response:
        """Retry beats credentials beats invalid data: a resend can only help in the first case."""
        # Histograms and exemplars are never stored: 0 is their true count.
        headers = written_headers(self.written, self.v2)
        failures = self.result.failures
        if self.result.unfinished:
            return Response.text(
                DEADLINE_STATUS,
                f"Timestream did not finish in time: {self.result.unfinished} samples unconfirmed; "
                f"{self.written} of {self.samples} written. Retry the batch.",
                {**headers, **headers_for(DEADLINE_STATUS)},
            )
        retry = [f for f in failures if f.kind in RESENDABLE]
        if retry:
            throttled = any(f.kind is Kind.THROTTLED for f in retry)
            first = retry[0]
            status = STATUS[Kind.THROTTLED if throttled else first.kind]
            return Response.text(
                status,
                f"Timestream {first.code}: {first.message}; {self.result.failed} samples not written, "
                f"{self.written} of {self.samples} written. Retry the batch.",
                {**headers, **headers_for(status)},
            )
        for kind in (Kind.UNAUTHENTICATED, Kind.FORBIDDEN):
            denied = [f for f in failures if f.kind is kind]
            if denied:
                status = STATUS[kind]
                text = f"Timestream {denied[0].code}: {denied[0].message}"
                return Response.text(status, text, {**headers, **headers_for(status)})
        invalid_calls = [f for f in failures if f.kind is Kind.INVALID]
        if self.dropped or invalid_calls or self.refused:
            return Response.text(STATUS[Kind.INVALID], self._invalid_text(invalid_calls), headers)
        return Response(204, b"", headers)

    def _invalid_text(self, invalid_calls: list) -> str:  # type: ignore[type-arg]
        lost = self.dropped + sum(f.records for f in invalid_calls)
        reasons = Counter(self.invalid)
        reasons.update(self.result.rejected)
        for failure in invalid_calls:
            reasons[f"Timestream {failure.code}: {failure.message}"] += failure.records
        reasons.update(self.refused)
        reasons = +reasons  # a broken series without samples is no reason to show
        shown = "; ".join(f"{count} x {reason}" for reason, count in reasons.most_common(_REASONS_SHOWN))
        more = len(reasons) - _REASONS_SHOWN
        tail = f"; and {more} more reasons" if more > 0 else ""
        refused = sum(self.refused.values())
        what = [f"{lost} of {self.samples} samples"] if lost or not refused else []
        what += [f"{refused} exemplars"] if refused else []
        return (
            f"{' and '.join(what)} could not be stored and will not be on retry "
            f"({self.written} written): {shown}{tail}"
        )
