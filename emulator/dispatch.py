"""Request dispatch: authenticate, count, inject faults, then run the operation.

Order matters and mirrors AWS: the signature is checked first (so an unknown key never
reaches an operation), then the call is counted for its access key, then faults are decided
(before any data is touched, so a faulted call writes nothing), then the operation runs.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from email.message import Message
from typing import Any

from emulator.errors import ApiError
from emulator.faults import FaultInjector, FaultSettings
from emulator.metering import Meter
from emulator.payload import Payload
from emulator.sigv4 import verify_request
from emulator.write_api import Handler

TARGET_PREFIX = "Timestream_20181101"
log = logging.getLogger("emulator")


class Dispatcher:
    """Routes API calls to operation handlers and serves the admin endpoints."""

    def __init__(
        self,
        operations: Mapping[str, Handler],
        credentials: Mapping[str, str],
        meter: Meter,
        stopping: threading.Event,
    ) -> None:
        self._operations = dict(operations)
        self._credentials = credentials
        self.meter = meter
        self.faults = FaultInjector(stopping)

    def api(self, method: str, target: str, headers: Message, body: bytes) -> tuple[int, Payload]:
        """Answer one API request with (HTTP status, JSON body)."""
        try:
            return 200, self._call(method, target, headers, body)
        except ApiError as error:
            return error.status, error.body()
        except Exception:  # any bug must still look like an AWS 500 to the client
            log.exception("internal error in %s", headers.get("X-Amz-Target"))
            return 500, ApiError("InternalServerException", "Internal server error.", 500).body()

    def _call(self, method: str, target: str, headers: Message, body: bytes) -> Payload:
        access_key = verify_request(method, target, headers, body, self._credentials)
        prefix, _, operation = (headers.get("X-Amz-Target") or "").partition(".")
        handler = self._operations.get(operation) if method == "POST" and prefix == TARGET_PREFIX else None
        if handler is None:
            raise ApiError("UnknownOperationException", f"Unknown operation {headers.get('X-Amz-Target')!r}.")
        self.meter.count_call(access_key, operation)
        fault = self.faults.decide(operation)
        if fault:
            self.meter.count_fault(fault)
            self.faults.raise_fault(fault)
        return handler(_json_body(body), access_key)

    def admin(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """``/__admin/stats``, ``/__admin/stats/reset``, ``/__admin/faults``, ``/__admin/health``."""
        route = (method, path.split("?", 1)[0].rstrip("/"))
        if route == ("GET", "/__admin/stats"):
            return 200, self.meter.snapshot()
        if route == ("POST", "/__admin/stats/reset"):
            self.meter.reset()
            return 200, self.meter.snapshot()
        if route == ("GET", "/__admin/faults"):
            return 200, self.faults.settings.to_json()
        if route == ("POST", "/__admin/faults"):
            return self._set_faults(body)
        if route == ("GET", "/__admin/health"):
            return 200, {"status": "ok"}
        return 404, {"error": f"no admin route {method} {path}"}

    def _set_faults(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            settings = FaultSettings.from_json(json.loads(body or b"{}"))
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}
        self.faults.configure(settings)
        return 200, settings.to_json()


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise ApiError("SerializationException", "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError("SerializationException", "The request body must be a JSON object.")
    return payload
