"""4. Cold start of the Lambda module, each run in a fresh ``python -c`` process.

Timed inside the child with ``time.perf_counter``: ``import connector.handler`` plus
``connector.handler.connector()`` (settings from the environment, the core, the writer pool; no
network), then separately the first ``connector().clients.write_client(identity)`` (boto3 session and
client; it happens on the first request). Medians of ``runs`` processes. Bytecode caches are warm,
as they are in a deployed artifact. One extra run under ``-X importtime`` (never timed) lists the
top-level packages that cost the most, for the details.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.common import ACCESS_KEY_ID, ROOT, SECRET_ACCESS_KEY, Row, Section, median

CHILD = f"""
import time
t0 = time.perf_counter()
import connector.handler
t1 = time.perf_counter()
core = connector.handler.connector()
t2 = time.perf_counter()
from connector.auth import Identity
core.clients.write_client(Identity({ACCESS_KEY_ID!r}, {SECRET_ACCESS_KEY!r}))
t3 = time.perf_counter()
import json, sys
sys.stderr.write("BENCH " + json.dumps({{"import": t1 - t0, "init": t2 - t1, "client": t3 - t2}}) + "\\n")
"""

REFERENCE = """
import time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
import json, sys
sys.stderr.write("BENCH " + json.dumps({"import": t1 - t0}) + "\\n")
"""

TARGET_MS = 350


def _env() -> dict[str, str]:
    """What the Lambda function gets: region, table names, log level; no endpoint override."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIMESTREAM_", "AWS_PROFILE"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the artifact ships bytecode: measure with it
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "DEFAULT_DATABASE": "PrometheusDatabase",
            "DEFAULT_TABLE": "PrometheusMetricsTable",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


def _child(extra: list[str] | None = None, code: str = CHILD) -> tuple[dict[str, float], str]:
    proc = subprocess.run(
        [sys.executable, *(extra or []), "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120
    )
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"cold-start child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(line[len("BENCH ") :]), proc.stderr


def import_costs(stderr: str, top: int = 10, max_depth: int = 2) -> list[tuple[str, float]]:
    """The costliest imports (cumulative ms) up to ``max_depth`` levels deep in ``-X importtime`` output."""
    costs: list[tuple[str, float]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") < 2:
            continue
        _, cumulative, name = line[len("import time:") :].split("|", 2)
        if not cumulative.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        if depth <= max_depth:
            costs.append(("  " * depth + name.strip(), int(cumulative) / 1000))
    ranked = sorted(costs, key=lambda item: item[1], reverse=True)[:top]
    return [item for item in costs if item in ranked]  # import order: nesting stays readable


def run(runs: int = 7, importtime: bool = True) -> Section:
    _child()  # warms the bytecode caches, as the artifact ships them (deploy/build_artifact.py precompile)
    samples = []
    reference = []
    for _ in range(runs):  # interleaved with a reference process, so both see the same machine load
        samples.append(_child()[0])
        reference.append(1000 * _child(code=REFERENCE)[0]["import"])
    start = [1000 * (s["import"] + s["init"]) for s in samples]
    client = [1000 * s["client"] for s in samples]
    figure = median(start)
    section = Section("Cold start")
    section.rows = [
        Row(
            "Cold start: import connector.handler + connector()",
            figure,
            "ms",
            median(reference),
            "bare `import boto3`",
            median(s / r for s, r in zip(start, reference, strict=True)),
            f"<= {TARGET_MS} ms",
            figure <= TARGET_MS,
        ),
        Row(
            "Cold start: first write_client(identity)",
            median(client),
            "ms",
            median(reference),
            "bare `import boto3`",
            median(c / r for c, r in zip(client, reference, strict=True)),
            note="on the first request",
        ),
    ]
    section.details.append(
        f"{runs} fresh processes each; import+init ms: {', '.join(f'{v:.0f}' for v in start)}; "
        f"of which import {median(1000 * s['import'] for s in samples):.0f}, init "
        f"{median(1000 * s['init'] for s in samples):.1f}; first client ms: {', '.join(f'{v:.0f}' for v in client)}; "
        f"reference `import boto3` ms: {', '.join(f'{v:.0f}' for v in reference)} (FACTS.md: ~300 on a quiet machine)"
    )
    if importtime:
        _, stderr = _child(["-X", "importtime"])
        costs = import_costs(stderr)
        section.details.append(
            "-X importtime (one more process; the flag adds overhead), costliest imports of import, init and "
            "first client, cumulative ms, nesting by indent:"
        )
        section.details.extend(f"  {ms:6.0f}  {name}" for name, ms in costs)
    return section
