"""A faster body for WriteRecords, which dominates the connector's CPU time.

botocore's JSON serializer walks the service model for every member of every record. For
WriteRecords the AWS JSON 1.0 body is exactly the parameters as JSON (strings, lists, objects and
one integer ``Version``), so ``json.dumps`` in C gives the same bytes' meaning in a fraction of the
time. botocore still builds the headers and URL; only the body of this one operation is replaced,
and a test checks that both serializers produce the same JSON document.
"""

from __future__ import annotations

import json
from typing import Any

_FAST_OPERATIONS = frozenset({"WriteRecords"})


class FastWriteRecordsSerializer:
    """Wraps a client's botocore serializer; delegates everything but the WriteRecords body."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        if operation_model.name not in _FAST_OPERATIONS:
            return self._inner.serialize_to_request(parameters, operation_model)
        request = self._inner.serialize_to_request({}, operation_model)
        request["body"] = json.dumps(parameters, separators=(",", ":"), check_circular=False).encode("utf-8")
        return request


def install(client: Any) -> Any:
    """Give ``client`` the fast WriteRecords body; botocore keeps its serializer in ``_serializer``."""
    inner = getattr(client, "_serializer", None)
    if inner is not None and not isinstance(inner, FastWriteRecordsSerializer):
        client._serializer = FastWriteRecordsSerializer(inner)
    return client
