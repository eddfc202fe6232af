"""Run Debian's Prometheus as a child process and talk to its HTTP API, with nothing but the stdlib.

Each server gets its own loopback port, data directory, config file and log file. The child is
started through ``setpriv --pdeathsig KILL`` where available, so even a pytest killed with SIGKILL
takes its Prometheus servers down with it; the normal teardown terminates, waits and then kills.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


class PrometheusError(AssertionError):
    pass


class Prometheus:
    """One Prometheus server: ``start()``, ``api_get()``, ``stop()``; logs go to ``log_path``."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        config: Callable[[int], Mapping[str, Any]],
        rules: Mapping[str, Any] | None = None,
    ):
        """``config(port)`` builds the configuration once the listening port is chosen."""
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "prometheus.yml"
        self.log_path = self.dir / "prometheus.log"
        self._config = config
        self._rules = rules
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        config = dict(self._config(self.port))
        if self._rules is not None:
            rules_path = self.dir / "rules.yml"
            rules_path.write_text(json.dumps(self._rules, indent=1, ensure_ascii=False), encoding="utf-8")
            config["rule_files"] = [str(rules_path)]
        # JSON is YAML: Prometheus reads it as is, and no quoting subtleties can creep in.
        self.config_path.write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")

    def start(self, port: int | None = None) -> Prometheus:
        self.port = port or free_port()
        self.write_config()
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError("no prometheus binary on PATH")
        argv = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=info",
        ]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PrometheusError(
                    f"prometheus {self.name} exited with {self.process.returncode} during startup\n"
                    f"--- tail of {self.log_path}\n{tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus {self.name} not ready after {STARTUP_TIMEOUT_S}s\n{tail(self.log_path)}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def diagnostics(self, lines: int = 30) -> str:
        state = "running" if self.alive() else "not running"
        return (
            f"--- prometheus {self.name} ({state}, {self.url}) log tail: {self.log_path}\n{tail(self.log_path, lines)}"
        )

    # --- HTTP API -------------------------------------------------------------------------

    def get(self, path: str, params: Sequence[tuple[str, str]] = (), timeout: float = 60) -> tuple[int, bytes]:
        query = urllib.parse.urlencode(list(params))
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def api(self, path: str, params: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """A ``/api/v1`` answer as JSON, with numbers kept as their exact text."""
        status, body = self.get(f"/api/v1/{path}", params)
        try:
            payload = json.loads(body, parse_float=str, parse_int=str)
        except ValueError:
            raise PrometheusError(
                f"{self.name} /api/v1/{path} {params}: HTTP {status}, not JSON: {body[:500]!r}"
            ) from None
        if status != 200 or payload.get("status") != "success":
            raise PrometheusError(f"{self.name} /api/v1/{path} {params}: HTTP {status}: {payload}")
        return payload

    def metrics_text(self) -> str:
        status, body = self.get("/metrics", timeout=10)
        if status != 200:
            raise PrometheusError(f"{self.name} /metrics: HTTP {status}")
        return body.decode("utf-8")


def scalar_metrics(text: str) -> dict[str, float]:
    """``name{labels}`` -> value for every sample line of a text exposition (labels kept verbatim)."""
    result: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            result[key] = float(value)
        except ValueError:
            continue
    return result


class MissingMetric(KeyError):
    """A metric a test relies on is not exposed at all: renamed, or never registered."""


def metric_sum(metrics: Mapping[str, float], name: str, default: float | None = None) -> float:
    """Sum of every series of ``name`` (all label sets). A metric that is not exposed at all raises
    ``MissingMetric``, so that "nothing failed" cannot pass for a renamed counter; ``default`` is
    for a metric that may legitimately not exist yet (a queue not started)."""
    values = [v for k, v in metrics.items() if k == name or k.startswith(name + "{")]
    if not values:
        if default is not None:
            return default
        raise MissingMetric(f"{name} is not exposed; have: {sorted({k.split('{')[0] for k in metrics})}")
    return sum(values)


def basic_auth_header(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()
