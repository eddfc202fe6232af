"""The source's remote-read API (``POST /api/v1/read`` on a Prometheus): one time window at a time.

The request asks for streamed XOR chunks first (what Prometheus serves since 2.13: the answer
arrives frame by frame, so memory stays at one frame however long the window) and takes a SAMPLES
answer from sources that only speak that. A source may stream whole TSDB chunks that reach past
the window (Prometheus 2.42 was seen to trim them to the range; FACTS.md says whole chunks):
samples outside it are dropped here, the neighbouring window reads them.
Several selectors are one query each; a series that more than one selects is kept once.
"""

from __future__ import annotations

import base64
import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from connector.backfill.windows import Window
from connector.errors import BadRequest
from connector.prom import snappy
from connector.prom.chunked import CONTENT_TYPE as CHUNKED_CONTENT_TYPE
from connector.prom.chunked import SAMPLES, STREAMED_XOR_CHUNKS, StreamError, decoded_series, read_frames
from connector.prom.series import Labels, Series
from connector.prom.xor_chunk import ChunkError
from prompb import remote_pb2, types_pb2

READ_PATH = "/api/v1/read"
# A SAMPLES answer is one message: the largest body taken before it is refused (use a smaller --window).
MAX_SAMPLES_ANSWER_BYTES = 1 << 30
USER_AGENT = "prometheus-timestream-connector-backfill/0.1"
SeriesRead = tuple[Series, int]  # a series with samples inside the window, and its native-histogram count


class SourceError(Exception):
    """The source could not answer a window; ``retryable`` when asking again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def read_url(address: str) -> tuple[str, str | None]:
    """The remote-read URL for ``--from`` and its Authorization header, if the URL carries user:password.

    A bare address (``http://prometheus:9090``) gets Prometheus' ``/api/v1/read``; a URL with a path
    (the connector's own ``/read``) is used as it is. Credentials never stay in the URL, which is logged.
    """
    parts = urlsplit(address.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--from must be an http(s) URL such as http://prometheus:9090, got {address!r}")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    path = parts.path if parts.path not in ("", "/") else READ_PATH
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], path, parts.query, "")), authorization


@dataclass(frozen=True)
class RemoteReadSource:
    url: str
    selectors: Sequence[Sequence[types_pb2.LabelMatcher]]
    authorization: str | None = None
    timeout: float = 300.0
    accepted: tuple[int, ...] = (STREAMED_XOR_CHUNKS, SAMPLES)

    def read(self, window: Window) -> Iterator[SeriesRead]:
        """Every selected series with its samples in ``window``, as the answer arrives.

        Raises ``SourceError`` (also midway, when the stream breaks); what was yielded before stays valid.
        """
        response = self._post(self._request(window))
        try:
            media = response.headers.get("Content-Type", "")
            if _is_chunked(media):
                yield from _kept_once(_clipped(self._frames(response), window), len(self.selectors))
            elif media.split(";")[0].strip().lower() == "application/x-protobuf":
                yield from _kept_once(_clipped(self._samples(response), window), len(self.selectors))
            else:
                raise SourceError(f"{self.url} answered with Content-Type {media!r}, not a remote-read answer", False)
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"reading the answer of {self.url} failed: {_reason(exc)}", True) from None
        except (StreamError, ChunkError) as exc:
            raise SourceError(f"the streamed answer of {self.url} is corrupt: {exc}", True) from None
        finally:
            response.close()

    def _request(self, window: Window) -> bytes:
        request = remote_pb2.ReadRequest(accepted_response_types=list(self.accepted))
        for matchers in self.selectors:
            # Remote read's bounds are inclusive; the window's end is not.
            request.queries.add(
                start_timestamp_ms=window.start_ms, end_timestamp_ms=window.end_ms - 1, matchers=matchers
            )
        return snappy.compress(request.SerializeToString())

    def _post(self, body: bytes) -> Any:
        headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "Accept-Encoding": "snappy",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
            "User-Agent": USER_AGENT,
        }
        if self.authorization:
            headers["Authorization"] = self.authorization
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            text = exc.read(2000).decode("utf-8", "replace").strip()
            # 4xx: the source refuses this query (bad matcher, credentials); asking again cannot help.
            raise SourceError(f"{self.url} answered {exc.code}: {text}", exc.code >= 500 or exc.code == 429) from None
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"cannot reach {self.url}: {_reason(exc)}", True) from None

    def _frames(self, response: Any) -> Iterator[tuple[int, Series, int]]:
        for frame in read_frames(response):
            for series, histograms in decoded_series(frame):
                yield frame.query_index, series, histograms

    def _samples(self, response: Any) -> Iterator[tuple[int, Series, int]]:
        raw = response.read(MAX_SAMPLES_ANSWER_BYTES + 1)
        try:
            message = remote_pb2.ReadResponse.FromString(snappy.decompress(raw, MAX_SAMPLES_ANSWER_BYTES))
        except BadRequest as exc:  # also PayloadTooLarge
            raise SourceError(f"the SAMPLES answer of {self.url}: {exc}; a smaller --window helps", False) from None
        for index, result in enumerate(message.results):
            for timeseries in result.timeseries:
                labels = tuple((label.name, label.value) for label in timeseries.labels)
                samples = [(sample.timestamp, sample.value) for sample in timeseries.samples]
                yield index, Series(labels, samples), len(timeseries.histograms)


def _is_chunked(media: str) -> bool:
    """Prometheus' client matches the type exactly; spacing and case are forgiven here."""
    return "".join(media.split()).lower() == "".join(CHUNKED_CONTENT_TYPE.split()).lower()


def _clipped(answers: Iterator[tuple[int, Series, int]], window: Window) -> Iterator[tuple[int, Series, int]]:
    start, end = window
    for index, series, histograms in answers:
        samples = series.samples
        if samples and (samples[0][0] < start or samples[-1][0] >= end):
            samples = [sample for sample in samples if start <= sample[0] < end]
        if samples or histograms:
            yield index, Series(series.labels, samples), histograms


def _kept_once(answers: Iterator[tuple[int, Series, int]], queries: int) -> Iterator[SeriesRead]:
    """Each series once: a later query's copy of a series an earlier query returned is dropped.

    Copies within one query are kept: a source may split a long series over frames.
    """
    if queries == 1:
        for _, series, histograms in answers:
            yield series, histograms
        return
    first_query: dict[Labels, int] = {}
    for index, series, histograms in answers:
        if first_query.setdefault(series.labels, index) == index:
            yield series, histograms


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        exc = exc.reason  # type: ignore[assignment]
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
