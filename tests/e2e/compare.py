"""Normalise Prometheus API answers and explain how two of them differ.

Timestamps and values stay the exact text Prometheus printed (``parse_float=str``): the same
double always prints the same way, so equal text means bit-identical values and NaN equals NaN
(Prometheus prints every NaN as ``NaN``; what distinguishes a staleness marker from a NaN value is
tested through its effect: a stale series vanishes from instant results).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LabelKey = tuple[tuple[str, str], ...]
Samples = list[tuple[str, str]]
MAX_SERIES_IN_DIFF = 5
MAX_SAMPLES_IN_DIFF = 4


def label_key(metric: Mapping[str, str]) -> LabelKey:
    return tuple(sorted(metric.items()))


def show(key: LabelKey) -> str:
    if not key:
        return "{}"
    name = dict(key).get("__name__", "")
    rest = ", ".join(f"{k}={v!r}" for k, v in key if k != "__name__")
    return f"{name}{{{rest}}}"


def normalise(payload: Mapping[str, Any]) -> tuple[str, dict[LabelKey, Samples]]:
    """(resultType, label set -> [(timestamp, value)]) of a query or query_range answer."""
    data = payload["data"]
    kind = data["resultType"]
    result = data["result"]
    series: dict[LabelKey, Samples] = {}
    if kind == "matrix":
        for item in result:
            key = label_key(item["metric"])
            assert key not in series, f"duplicate series {show(key)} in one answer"
            series[key] = [(str(t), str(v)) for t, v in item["values"]]
    elif kind == "vector":
        for item in result:
            key = label_key(item["metric"])
            assert key not in series, f"duplicate series {show(key)} in one answer"
            t, v = item["value"]
            series[key] = [(str(t), str(v))]
    elif kind in ("scalar", "string"):
        t, v = result
        series[(("<" + kind + ">", ""),)] = [(str(t), str(v))]
    else:  # pragma: no cover - Prometheus has no other result types
        raise AssertionError(f"unknown resultType {kind!r}")
    return kind, series


def diff_series(a: Mapping[LabelKey, Samples], b: Mapping[LabelKey, Samples], names: Sequence[str] = ("A", "B")) -> str:
    """Empty when equal, else a readable account of the first few differing series."""
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    differing = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    if not (only_a or only_b or differing):
        return ""
    lines = [
        f"{len(a)} series in {names[0]}, {len(b)} in {names[1]}: {len(only_a)} only in {names[0]}, "
        f"{len(only_b)} only in {names[1]}, {len(differing)} with different samples"
    ]
    for key in only_a[:MAX_SERIES_IN_DIFF]:
        lines.append(f"  only in {names[0]}: {show(key)} {_preview(a[key])}")
    for key in only_b[:MAX_SERIES_IN_DIFF]:
        lines.append(f"  only in {names[1]}: {show(key)} {_preview(b[key])}")
    for key in differing[:MAX_SERIES_IN_DIFF]:
        lines.append(f"  differs: {show(key)}")
        lines.extend(f"    {line}" for line in _sample_diff(a[key], b[key], names))
    return "\n".join(lines)


def _preview(samples: Samples) -> str:
    head = ", ".join(f"{t}={v}" for t, v in samples[:MAX_SAMPLES_IN_DIFF])
    more = f", ... ({len(samples)} samples)" if len(samples) > MAX_SAMPLES_IN_DIFF else ""
    return f"[{head}{more}]"


def _sample_diff(a: Samples, b: Samples, names: Sequence[str]) -> list[str]:
    da, db = dict(a), dict(b)
    out = []
    for t in sorted(set(da) | set(db), key=float):
        if da.get(t) != db.get(t):
            out.append(f"@{t}: {names[0]}={da.get(t, '<missing>')} {names[1]}={db.get(t, '<missing>')}")
            if len(out) >= MAX_SAMPLES_IN_DIFF:
                break
    if len(a) != len(b):
        out.append(f"({len(a)} samples in {names[0]}, {len(b)} in {names[1]})")
    return out
