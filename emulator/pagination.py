"""``NextToken``s: the live query results they resume, and the pages they answered.

A token is bound to the query string and the principal that started the query, and valid for
1 hour and 5 uses; an unknown, expired or mismatched token is a ``ValidationException``. The
newest token of a result holds its stream (a DuckDB cursor): its first use serves the next
page and issues the next token. Using a token again (a client retrying a lost answer) replays
the page it answered first; once the next token is used the client has moved on, and the older
one is forgotten. So a result costs one cursor and at most one cached page. A cursor is
released when its last page is served, when its token expires or is evicted (at most
``MAX_LIVE_TOKENS``, oldest first), by ``CancelQuery``, or when the store stops.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from emulator.errors import validation
from emulator.stream import ResultStream

TOKEN_TTL_SECONDS = 3600.0
TOKEN_MAX_USES = 5
MAX_LIVE_TOKENS = 128

Serve = Callable[[ResultStream], str]


@dataclass
class _Token:
    query: str
    principal: str
    query_id: str
    expires: float
    stream: ResultStream | None  # until the token is first answered: the result it advances
    previous: str | None  # the token that answered the page before
    answer: str | None = None
    uses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # one first answer at a time


class PageCache:
    """Live tokens; a lock guards the table only, never a page being served."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def issue(self, stream: ResultStream, query: str, principal: str, previous: str | None = None) -> str:
        """A token that serves ``stream``'s next page; ``previous`` is the token answered before it."""
        token = secrets.token_urlsafe(24)
        now = self._clock()
        entry = _Token(query, principal, stream.query_id, now + TOKEN_TTL_SECONDS, stream, previous)
        with self._lock:
            self._tokens[token] = entry
            victims = self._evict(now)
        _release(victims)
        return token

    def resume(self, token: str, query: str, principal: str, serve: Serve) -> str:
        """What ``token`` answers: the next page from ``serve`` on first use, the same page after."""
        entry = self._claim(token, query, principal)
        with entry.lock:
            if entry.answer is None:
                entry.answer = self._first_answer(token, entry, serve)
            return entry.answer

    def _claim(self, token: str, query: str, principal: str) -> _Token:
        """Count one use of a valid token, after sweeping out expired ones."""
        bound = False
        with self._lock:
            victims = self._evict(self._clock())
            entry = self._tokens.get(token)
            if entry is not None and entry.query == query and entry.principal == principal:
                bound = True
                entry.uses += 1
                if entry.uses >= TOKEN_MAX_USES:
                    del self._tokens[token]
        _release(victims)
        if entry is None:
            raise validation("The NextToken is invalid or has expired.")
        if not bound:
            raise validation("The NextToken does not belong to this query string and principal.")
        return entry

    def _first_answer(self, token: str, entry: _Token, serve: Serve) -> str:
        stream, entry.stream = entry.stream, None  # from now on the next token owns it
        if stream is None:  # released meanwhile (evicted, cancelled)
            raise validation("The NextToken is invalid or has expired.")
        try:
            answer = serve(stream)
        except BaseException:
            self._forget([token])
            raise
        if entry.previous is not None:
            self._forget([entry.previous])
        return answer

    def cancel(self, query_id: str) -> bool:
        """Release a query's result; whether it still had one."""
        with self._lock:
            tokens = [token for token, entry in self._tokens.items() if entry.query_id == query_id]
        self._forget(tokens)
        return bool(tokens)

    def close(self) -> None:
        """Release every result (the store is stopping)."""
        with self._lock:
            victims, self._tokens = list(self._tokens.values()), {}
        _release(victims)

    def _forget(self, tokens: Iterable[str]) -> None:
        with self._lock:
            victims = [entry for token in tokens if (entry := self._tokens.pop(token, None)) is not None]
        _release(victims)

    def _evict(self, now: float) -> list[_Token]:
        """Expired tokens, then the oldest over the cap (caller holds ``_lock``)."""
        expired = {token for token, entry in self._tokens.items() if entry.expires < now}
        over = len(self._tokens) - len(expired) - MAX_LIVE_TOKENS
        oldest = [token for token in self._tokens if token not in expired][: max(0, over)]
        return [self._tokens.pop(token) for token in [*expired, *oldest]]


def _release(entries: Iterable[_Token]) -> None:
    """Close the streams of forgotten tokens.

    An entry whose lock is held is being answered right now: its stream then passes to the next
    token or is closed by the answer itself, so nothing waits here (and no lock order can deadlock).
    """
    for entry in entries:
        if entry.lock.acquire(blocking=False):
            try:
                if entry.stream is not None:
                    entry.stream.close()
                    entry.stream = None
            finally:
                entry.lock.release()
