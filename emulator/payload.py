"""Response bodies: a JSON object to encode, or JSON text an operation rendered itself.

Query pages are rendered as text (their rows come out of DuckDB as JSON already); decoding
them into objects only for ``json.dumps`` to encode them again would cost more than the query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JsonText:
    """A response body that is already JSON text."""

    text: str


Payload = dict[str, Any] | JsonText


def encode(payload: Payload) -> bytes:
    """The UTF-8 body of a response, compact as AWS sends its JSON."""
    text = payload.text if isinstance(payload, JsonText) else json.dumps(payload, separators=(",", ":"))
    return text.encode("utf-8")
