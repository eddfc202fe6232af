"""``python -m bench [--write-results] [--only cpu,latency,...] [--quick]``: every measurement, one table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from types import ModuleType

from bench import backfill, billing, coldstart, cpu, latency, memory, read, report, server, store_query, sustained
from bench.common import Section
from bench.store import StoreProcess

ORDER = ("coldstart", "cpu", "billing", "latency", "memory", "read", "store_query", "server", "sustained", "backfill")
MODULES: dict[str, ModuleType] = {
    "cpu": cpu,
    "latency": latency,
    "billing": billing,
    "coldstart": coldstart,
    "memory": memory,
    "read": read,
    "store_query": store_query,
    "server": server,
    "sustained": sustained,
    "backfill": backfill,
}


def main(argv: list[str] | None = None) -> int:
    # Before the connector's logger exists (it is made on first use): it logs a line per request.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--write-results", action="store_true", help="(re)write bench/RESULTS.md")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(ORDER)}")
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds: a rough look only")
    args = parser.parse_args(argv)
    chosen = [name for name in ORDER if not args.only or name in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(ORDER) - {""}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    if args.quick and args.write_results:
        parser.error("--quick figures are not comparable: they are never written to RESULTS.md")

    info = report.machine()
    started = report.started_now()
    clock = time.perf_counter()
    store: StoreProcess | None = None

    def shared_store() -> StoreProcess:
        nonlocal store
        store = store or StoreProcess()
        return store

    quick = args.quick
    runners: dict[str, Callable[[], Section]] = {
        "coldstart": lambda: coldstart.run(runs=3 if quick else 7),
        "cpu": lambda: cpu.run(target_samples=20_000 if quick else 100_000, rounds=3 if quick else 5),
        "billing": lambda: billing.run(shared_store()),
        "latency": lambda: latency.run(shared_store(), rounds=(3, 1) if quick else (5, 3)),
        "memory": lambda: memory.run(shared_store(), target_bytes=2_000_000 if quick else 10_000_000),
        "read": lambda: read.run(
            series=10 if quick else 100,
            samples=2_000 if quick else 10_000,
            rounds=2 if quick else 3,
            cpu_rounds=1 if quick else 3,
        ),
        "store_query": lambda: store_query.run(rows=100_000 if quick else 1_000_000, rounds=1 if quick else 3),
        "server": lambda: server.run(requests=50 if quick else 200, rounds=1 if quick else 3),
        "sustained": lambda: sustained.run(
            seconds=5 if quick else 30,
            warmup=1 if quick else 3,
            rates=(1000, 10_000) if quick else sustained.RATES,
            ceiling_seconds=5 if quick else 20,
            wide_series=None if quick else sustained.WIDE_SERIES,
        ),
        "backfill": lambda: backfill.run(
            shared_store(), series=50 if quick else 200, samples=400 if quick else 1_000, rounds=1 if quick else 3
        ),
    }
    sections = []
    try:
        for i, name in enumerate(chosen, start=1):
            print(f"[{i}/{len(chosen)}] {name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            sections.append(runners[name]())
            print(f"      {name} took {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    finally:
        if store is not None:
            store.stop()
    seconds = time.perf_counter() - clock

    rows = [row for section in sections for row in section.rows]
    print()
    print(report.text_table(rows))
    for section in sections:
        print(f"\n{section.title}:")
        for line in section.details:
            print(f"  {line}")
    print(
        f"\n{len(rows)} figures in {seconds:.0f} s on nproc {info['nproc']}, {info['cpu']}, {info['python']}; "
        f"load average at start {info['load']}"
    )
    if args.write_results:
        path = report.write_results(sections, [MODULES[name] for name in chosen], started, seconds, info)
        print(f"wrote {path.relative_to(path.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
