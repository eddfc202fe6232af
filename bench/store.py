"""The embedded Timestream-compatible store in a process of its own, driven over a pipe.

The connector under test then has the GIL, the CPU time and the memory of its process to itself,
as it would against the real service. ``python -m bench.store`` is the child side: it starts
``EmbeddedTimestream`` and answers one JSON command per line (create, load, stats, reset, faults, stop).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from bench.common import ACCESS_KEY_ID, DATABASE, ROOT, SECRET_ACCESS_KEY


class StoreProcess:
    """Parent side: ``with StoreProcess() as store: store.url, store.create_table(...), store.stats()``."""

    def __init__(self) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="bench-store-", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.store"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        hello = self._read()
        self.url: str = hello["url"]

    def _read(self) -> Any:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the store process ended unexpectedly; its log:\n{self.log_tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"store process: {reply['error']}")
        return reply.get("result")

    def command(self, op: str, **arguments: Any) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def create_table(self, table: str, memory_retention_hours: int = 24) -> None:
        self.command("create", db=DATABASE, table=table, memory_retention_hours=memory_retention_hours)

    def load(self, table: str, select: str) -> None:
        """Append the rows of a SELECT to ``table`` in one statement (``Store.bulk_append``)."""
        self.command("load", db=DATABASE, table=table, select=select)

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def reset_stats(self) -> None:
        self.command("reset")

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        return self.command("faults", settings=settings)

    def noop_endpoint(self, latency_ms: float) -> str:
        """URL of a WriteRecords endpoint in the store's process that only waits ``latency_ms``."""
        return self.command("noop", latency_ms=latency_ms)

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self._log.name, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self._proc.poll() is None:
            try:
                self.command("stop")
                self._proc.wait(timeout=10)
            except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError):
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        os.unlink(self._log.name)

    def __enter__(self) -> StoreProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve() -> None:
    """Child side: the protocol owns the real stdout; everything else printed goes to stderr."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    from emulator.server import EmbeddedTimestream

    def reply(**payload: Any) -> None:
        protocol.write(json.dumps(payload) + "\n")

    store = EmbeddedTimestream(data_dir=None, credentials={ACCESS_KEY_ID: SECRET_ACCESS_KEY}).start()
    reply(result={"url": store.url})
    endpoints: list[Any] = []
    try:
        for line in sys.stdin:
            command = json.loads(line)
            op = command.pop("op")
            try:
                if op == "create":
                    store.create_database_and_table(
                        command["db"], command["table"], memory_retention_hours=command["memory_retention_hours"]
                    )
                    reply(result=None)
                elif op == "load":
                    store.store.bulk_append(store.store.table(command["db"], command["table"]), command["select"])
                    reply(result=None)
                elif op == "stats":
                    reply(result=store.stats())
                elif op == "reset":
                    store.reset_stats()
                    reply(result=None)
                elif op == "faults":
                    reply(result=store.set_faults(**command["settings"]))
                elif op == "noop":
                    from bench.stub import NoopEndpoint

                    endpoints.append(NoopEndpoint(command["latency_ms"]))
                    reply(result=endpoints[-1].url)
                elif op == "stop":
                    reply(result=None)
                    break
                else:
                    reply(error=f"unknown op {op!r}")
            except Exception as exc:  # reported to the parent, which raises
                reply(error=f"{type(exc).__name__}: {exc}")
    finally:
        for endpoint in endpoints:
            endpoint.shutdown()
        store.stop()


if __name__ == "__main__":
    _serve()
