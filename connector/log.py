"""The one logger: Powertools JSON lines, level from LOG_LEVEL. Never pass it a secret."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service="prometheus-timestream", level=os.environ.get("LOG_LEVEL", "INFO").upper())
