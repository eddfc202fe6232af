"""`python -m connector serve` as a child process, the way `make run` starts it, for tests that need the
real command line: what it prints, its `/metrics`, its exit on a busy data directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]

    def printed(self) -> str:
        """What ``serve`` printed before serving: it flushes all of it before it answers ``/healthz``."""
        assert self.process.stdout is not None
        return os.read(self.process.stdout.fileno(), 1 << 16).decode()


def start(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AUTH_MODE": "basic", "AWS_EC2_METADATA_DISABLED": "true", **(env or {})},
    )
    return process, port


@contextmanager
def serving(args: Sequence[str], env: dict[str, str] | None = None) -> Iterator[Served]:
    """A running server (``/healthz`` answers), stopped on exit."""
    process, port = start(args, env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, url)
        yield Served(url, process)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def wait_healthy(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"serve exited with {process.returncode}: {err[-2000:]}")
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"serve did not answer /healthz within {STARTUP_SECONDS} s")
