"""Command line: ``python -m connector serve [--host H] [--port P] [--local [--data DIR]]``,
``python -m connector invoke EVENT... [--local [--data DIR]]`` and
``python -m connector backfill --from URL --match SELECTOR --start TIME ...`` (``connector.backfill.cli``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from connector.backfill import cli as backfill_cli
from connector.config import ConfigError, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the connector as a local HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9201)
    serve.add_argument("--local", action="store_true", help="use the embedded Timestream-compatible store")
    serve.add_argument("--data", type=Path, default=None, help="data directory of the embedded store")
    invoke = commands.add_parser("invoke", help="run the Lambda handler on API Gateway event files (no Docker)")
    invoke.add_argument("events", type=Path, nargs="+", help="event files, e.g. events/write.json")
    invoke.add_argument("--local", action="store_true", help="use the embedded Timestream-compatible store")
    invoke.add_argument("--data", type=Path, default=None, help="data directory of the embedded store")
    invoke.add_argument("--timeout", type=float, default=30.0, help="simulated Lambda timeout in seconds")
    backfill_cli.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "invoke":
        from connector.invoke import main as invoke_main

        return invoke_main(args.events, settings, local=args.local, data_dir=args.data, timeout=args.timeout)
    if args.command == "backfill":
        return backfill_cli.main(args, settings)
    return 2


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from connector.app import Connector
    from connector.local import prometheus_snippet, start_store
    from connector.process import tune_garbage_collector
    from connector.server import ConnectorServer, server_settings

    tune_garbage_collector()
    settings = server_settings(settings, os.environ)
    store = None
    if args.local:
        store, settings = start_store(settings, args.data)
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = ConnectorServer((args.host, args.port), Connector(settings))
    where = f"embedded store at {store.url}, data in {args.data or 'memory'}" if store else "Amazon Timestream"
    print(f"connector listening on {server.url} ({where}); table {settings.database}.{settings.table}")
    print("\nAdd to prometheus.yml:\n")
    print(prometheus_snippet(server.url, settings.sigv4), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if store is not None:
            store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
