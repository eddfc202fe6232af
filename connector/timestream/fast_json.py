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
# A WriteRecords parameter taking the whole body already serialized (``WriteCall.body``): botocore
# never sees the records, so neither its serializer nor anything else walks them.
PREBUILT_BODY = "PrebuiltBody"


class FastWriteRecordsSerializer:
    """Wraps a client's botocore serializer; delegates everything but the WriteRecords body."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        if operation_model.name not in _FAST_OPERATIONS:
            return self._inner.serialize_to_request(parameters, operation_model)
        request = self._inner.serialize_to_request({}, operation_model)
        prebuilt = parameters.get(PREBUILT_BODY)
        if prebuilt is not None:
            request["body"] = prebuilt
        else:
            request["body"] = json.dumps(parameters, separators=(",", ":"), check_circular=False).encode("utf-8")
        return request


def takes_prebuilt_body(client: Any) -> bool:
    """Whether ``client`` serializes WriteRecords through ``install``'s serializer (others need parameters)."""
    return isinstance(getattr(client, "_serializer", None), FastWriteRecordsSerializer)


def install(client: Any) -> Any:
    """Give ``client`` the fast WriteRecords body; botocore keeps its serializer in ``_serializer``."""
    inner = getattr(client, "_serializer", None)
    if inner is not None and not isinstance(inner, FastWriteRecordsSerializer):
        client._serializer = FastWriteRecordsSerializer(inner)
    return client
