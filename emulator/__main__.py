"""Command line: ``python -m emulator --host 127.0.0.1 --port 9202 --data DIR --access-key AKID:SECRET``."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from emulator.server import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, EmbeddedTimestream


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options; ``--access-key`` may repeat, without it the default test key is accepted."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Embedded Timestream-compatible store")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9202)
    parser.add_argument("--data", type=Path, default=None, help="data directory (default: in memory)")
    parser.add_argument("--access-key", action="append", default=[], metavar="AKID:SECRET")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--no-colon-in-measure-name", action="store_true", help="reject ':' in measure names")
    return parser.parse_args(argv)


def credentials(pairs: list[str]) -> dict[str, str]:
    """``AKID:SECRET`` strings as a mapping."""
    if not pairs:
        return {DEFAULT_ACCESS_KEY_ID: DEFAULT_SECRET_ACCESS_KEY}
    found = {}
    for pair in pairs:
        key, sep, secret = pair.partition(":")
        if not sep or not key or not secret:
            raise SystemExit(f"--access-key must look like AKID:SECRET, got {pair.split(':')[0]}:...")
        found[key] = secret
    return found


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM."""
    args = parse_args(argv)
    store = EmbeddedTimestream(
        data_dir=args.data,
        host=args.host,
        port=args.port,
        credentials=credentials(args.access_key),
        region=args.region,
        allow_colon_in_measure_name=not args.no_colon_in_measure_name,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with store:
        print(f"embedded Timestream listening on {store.url} (data: {args.data or 'in memory'})", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
