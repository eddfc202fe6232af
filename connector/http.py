"""Transport-neutral HTTP request and response: what both front doors hand to the core."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class Headers(Mapping[str, str]):
    """Case-insensitive header map: API Gateway v2 lowercases names, v1 and browsers do not."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, str] = {}
        for name, value in pairs:
            self._items[name.lower()] = value

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        redacted = {k: ("<redacted>" if k == "authorization" else v) for k, v in self._items.items()}
        return f"Headers({redacted!r})"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Headers
    body: bytes
    # Seconds (time.monotonic() clock) by which the answer must be sent; None means the default.
    deadline: float | None = None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """A plain-text answer: Prometheus logs the body of a failed remote write verbatim."""
        all_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        return cls(status, (message.rstrip("\n") + "\n").encode("utf-8"), all_headers)
