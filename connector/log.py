"""The one logger: Powertools JSON lines, level from LOG_LEVEL. Never pass it a secret."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from connector.config import LOG_LEVELS


@lru_cache(maxsize=1)
def logger() -> Any:
    from aws_lambda_powertools import Logger

    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    # An invalid level is reported by Settings (ConfigError naming LOG_LEVEL); logging still works.
    return Logger(service="prometheus-timestream", level=level if level in LOG_LEVELS else "INFO")
