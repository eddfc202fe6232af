"""Query result pages and their ``NextToken``s.

A result set is computed once and then served page by page from memory, like Timestream does:
a page holds at most ``MaxRows`` rows (1-1000) and at most 1 MB of result data (see
``results.row_size``), and at least one row so paging always progresses. A token is bound to
the query string and the principal that started the query, valid for 1 hour and 5 uses; an
unknown, expired or mismatched token is a ``ValidationException``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from emulator.errors import validation

PAGE_BYTES = 1024 * 1024
TOKEN_TTL_SECONDS = 3600.0
TOKEN_MAX_USES = 5
MAX_LIVE_TOKENS = 1000


@dataclass
class ResultSet:
    """A computed query result, already in Timestream's wire shape."""

    query_id: str
    column_info: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    row_sizes: list[int]
    bytes_scanned: int

    def page(self, offset: int, max_rows: int | None) -> tuple[list[dict[str, Any]], int]:
        """Rows from ``offset`` that fit one page; returns them and the next offset."""
        limit = max_rows or len(self.rows)
        end, size = offset, 0
        while end < len(self.rows) and end - offset < limit:
            size += self.row_sizes[end]
            if size > PAGE_BYTES and end > offset:
                break
            end += 1
        return self.rows[offset:end], end


@dataclass
class _Position:
    result: ResultSet
    offset: int
    query: str
    principal: str
    expires: float
    uses: int = field(default=0)


class PageCache:
    """Server-side cursors keyed by opaque tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[str, _Position] = {}

    def issue(self, result: ResultSet, offset: int, query: str, principal: str) -> str:
        """A token that resumes ``result`` at ``offset``."""
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._evict(now)
            self._positions[token] = _Position(result, offset, query, principal, now + TOKEN_TTL_SECONDS)
        return token

    def resume(self, token: str, query: str, principal: str) -> tuple[ResultSet, int]:
        """The result and offset a token points at, if it is still valid for this caller."""
        with self._lock:
            position = self._positions.get(token)
            if position is None or position.expires < time.monotonic():
                raise validation("The NextToken is invalid or has expired.")
            if position.query != query or position.principal != principal:
                raise validation("The NextToken does not belong to this query string and principal.")
            position.uses += 1
            if position.uses >= TOKEN_MAX_USES:
                del self._positions[token]
            return position.result, position.offset

    def _evict(self, now: float) -> None:
        for token in [t for t, p in self._positions.items() if p.expires < now]:
            del self._positions[token]
        while len(self._positions) >= MAX_LIVE_TOKENS:
            del self._positions[next(iter(self._positions))]
