"""The core both front doors call: routes a transport-neutral request to remote write or read."""

from __future__ import annotations

import time
from collections.abc import Callable

from connector import metrics
from connector.auth import Identity, identity_for
from connector.config import Settings
from connector.errors import HTTPError
from connector.http import Request, Response
from connector.log import logger
from connector.read import ReadHandler
from connector.timestream.clients import ClientCache
from connector.write import WriteHandler

Handler = Callable[[Request, Identity, float], Response]


class Connector:
    """One instance per process: the settings, the client cache and the two handlers."""

    def __init__(self, settings: Settings, clients: ClientCache | None = None) -> None:
        self.settings = settings
        self.clients = clients or ClientCache(settings)
        self.write_handler = WriteHandler(settings, self.clients)
        self.read_handler = ReadHandler(settings, self.clients)
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/write"): self.write_handler.handle,
            ("POST", "/read"): self.read_handler.handle,
        }

    def handle(self, request: Request) -> Response:
        """Answer one request; every failure becomes a status code, never an exception."""
        response = self._answer(request)
        metrics.record_answer(_normalise(request.path), response.status)
        return response

    def _answer(self, request: Request) -> Response:
        path = _normalise(request.path)
        if path == "/healthz":
            return Response.text(200, "ok") if request.method in ("GET", "HEAD") else _not_allowed("GET")
        handler = self._routes.get((request.method, path))
        if handler is None:
            if any(route_path == path for _, route_path in self._routes):
                return _not_allowed("POST")
            return Response.text(404, f"no route for {request.method} {request.path[:200]}")
        # The budget runs from arrival: decoding and translating a large batch spend it too.
        deadline = self.deadline(request)
        try:
            identity = identity_for(request.headers, self.settings.sigv4)
            return handler(request, identity, deadline)
        except HTTPError as exc:
            return self._refusal(path, request, exc)
        except Exception:
            logger().exception("unexpected error", extra={"path": path})
            refusal = self._refusal_headers(path, request)
            return Response.text(500, "internal error in the connector; see its logs", refusal)

    def refuse(self, request: Request, error: HTTPError) -> Response:
        """A refusal a front door decides before the core reads the request (its framing, its size):
        logged, counted and with the route's headers, as the core's own refusals are."""
        response = self._refusal(_normalise(request.path), request, error)
        metrics.record_answer(_normalise(request.path), response.status)
        return response

    def _refusal(self, path: str, request: Request, exc: HTTPError) -> Response:
        if exc.status >= 500:
            logger().error("request failed", extra={"path": path, "status": exc.status, "reason": exc.message})
        else:
            logger().info("request refused", extra={"path": path, "status": exc.status, "reason": exc.message})
        return Response.text(exc.status, exc.message, {**self._refusal_headers(path, request), **exc.headers})

    def _refusal_headers(self, path: str, request: Request) -> dict[str, str]:
        """Headers every refusal on a route carries (a 2.0 remote write must be told what was written)."""
        return self.write_handler.refusal_headers(request) if path == "/write" else {}

    def deadline(self, request: Request) -> float:
        """The monotonic time by which to answer: the request budget, or the platform's if sooner."""
        budget = time.monotonic() + self.settings.request_timeout
        return min(budget, request.deadline) if request.deadline is not None else budget


def _normalise(path: str) -> str:
    path = path.split("?", 1)[0]
    return path.rstrip("/") or "/"


def _not_allowed(method: str) -> Response:
    return Response.text(405, f"method not allowed; use {method}", {"Allow": method})
