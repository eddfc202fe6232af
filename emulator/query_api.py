"""Timestream Query API operations: request JSON in, response JSON out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.metering import Meter
from emulator.payload import Payload
from emulator.query import QueryEngine
from emulator.write_api import ENDPOINT_CACHE_MINUTES, Handler


@dataclass
class QueryApi:
    """The query-side operations, bound to one engine."""

    engine: QueryEngine
    meter: Meter
    address: Callable[[], str]

    def operations(self) -> dict[str, Handler]:
        """Operation name -> handler (DescribeEndpoints is shared with the write side)."""
        return {"Query": self.query, "CancelQuery": self.cancel_query, "DescribeEndpoints": self.describe_endpoints}

    def query(self, body: dict[str, Any], principal: str) -> Payload:
        """Each call (first page or a later one) counts as one query call."""
        self.meter.count_query()
        return self.engine.query(body, principal)

    def cancel_query(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Release the rest of a result being paged through; a query served to the end has completed."""
        query_id = str(body.get("QueryId"))
        if self.engine.cancel(query_id):
            return {"CancellationMessage": f"Query {query_id} was cancelled."}
        return {"CancellationMessage": f"Query {query_id} has already completed."}

    def describe_endpoints(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        return {"Endpoints": [{"Address": self.address(), "CachePeriodInMinutes": ENDPOINT_CACHE_MINUTES}]}
