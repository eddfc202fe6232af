"""Times and durations on the command line: RFC 3339, a date, Unix seconds, or a span before now.

Everything becomes integer milliseconds since the epoch, the unit of Prometheus and of the table.
A datetime without a time zone is refused: guessing local time or UTC would shift the range silently.
"""

from __future__ import annotations

import datetime
import re

_UNITS_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}
# Prometheus' duration syntax: units from largest to smallest, each at most once, e.g. 1h30m, 500ms.
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNIX = re.compile(r"\d+(?:\.\d+)?")
_MS = datetime.timedelta(milliseconds=1)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class TimeError(ValueError):
    """A time or duration the command line cannot read; the message says which forms work."""


def parse_duration(text: str) -> int:
    """Milliseconds of a Prometheus duration such as ``30d``, ``6h``, ``1h30m`` or ``500ms``; above zero."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise TimeError(f"{text!r} is not a duration: use a number and a unit, such as 30d, 6h, 90m, 1h30m or 500ms")
    parts = [int(part) if part else 0 for part in match.groups()]
    milliseconds = sum(n * unit for n, unit in zip(parts, [*_UNITS_MS.values(), 1], strict=True))
    if milliseconds <= 0:
        raise TimeError(f"the duration {text!r} must be longer than zero")
    return milliseconds


def parse_time(text: str, now_ms: int) -> int:
    """Milliseconds since the epoch of ``text``: ``now``, RFC 3339, a date (midnight UTC), Unix
    seconds, or a duration meaning that long before ``now_ms``."""
    value = text.strip()
    if value == "now":
        return now_ms
    if _UNIX.fullmatch(value):
        seconds, _, fraction = value.partition(".")
        return int(seconds) * 1000 + int((fraction + "000")[:3])
    if value[:1].isdigit() and _DURATION.fullmatch(value):
        return now_ms - parse_duration(value)
    try:
        moment = datetime.datetime.fromisoformat(value.replace("z", "Z"))
        if _DATE.fullmatch(value):
            moment = moment.replace(tzinfo=datetime.UTC)
    except ValueError:
        raise TimeError(
            f"{text!r} is not a time: use RFC 3339 (2026-06-01T00:00:00Z), a date (2026-06-01, midnight UTC), "
            "Unix seconds, now, or a duration before now (30d, 6h)"
        ) from None
    if moment.tzinfo is None:
        raise TimeError(f"{text!r} has no time zone: add Z for UTC or an offset such as +02:00")
    return _to_ms(moment)


def _to_ms(moment: datetime.datetime) -> int:
    return (moment - _EPOCH) // _MS


def format_time(ms: int) -> str:
    """RFC 3339 in UTC, with milliseconds only when there are any."""
    moment = _EPOCH + datetime.timedelta(milliseconds=ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def format_duration(ms: int) -> str:
    """The shortest Prometheus duration for ``ms`` (``2h``, ``1h30m``, ``500ms``)."""
    parts = []
    for unit, size in (*_UNITS_MS.items(), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
