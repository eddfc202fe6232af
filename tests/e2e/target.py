"""A scrape target whose exposition changes over time, served from a thread.

Everything is a pure function of the scrape count ``n`` and of the seconds ``t`` since the target
started, so the series that appear and disappear do so at known times:

* ``e2e_flapping`` is absent for ``FLAP_GAP`` seconds, then comes back (same series);
* ``e2e_ephemeral{id="1"}`` and ``{id="2"}`` live only during ``EPHEMERAL_1`` / ``EPHEMERAL_2``;
* ``e2e_shifting`` changes its ``mode`` label at ``SHIFT_AT`` (the old series goes stale);
* ``e2e_resets_total`` is reset to 0 at ``RESET_AT``.

Prometheus writes a staleness marker for each series missing from a scrape that had it before.
Values are chosen so that their shortest decimal form is long (0.1 steps, 1/3, denormals, the largest double) and
so that ``topk`` never sees ties and every float ``sum`` group has at most two members (IEEE
addition of two numbers is commutative, so the result cannot depend on the order in which the
local TSDB or remote read hands the series to the engine).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FLAP_GAP = (12.0, 20.0)
EPHEMERAL_1 = (8.0, 18.0)
EPHEMERAL_2 = (14.0, 26.0)
SHIFT_AT = 16.0
RESET_AT = 22.0

# Label values that exercise exposition escaping, SQL escaping and regex anchoring.
QUOTED_PATH = '/a"quoted\\back'
SQL_PATH = "/it's_100%"
UNICODE_ROOM = 'Zürich ☃ "q" \\ \n ok'

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    """Text exposition format escaping: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(value: float) -> str:
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    return repr(value)


def _line(name: str, labels: dict[str, str], value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {_fmt(value)}"
    return f"{name} {_fmt(value)}"


def exposition(n: int, t: float) -> str:
    """The text the target serves on its ``n``-th scrape, ``t`` seconds after it started."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    family("e2e_requests_total", "counter", "Requests by code and method; path only on some series.")
    out.append(_line("e2e_requests_total", {"code": "200", "method": "get"}, 3 * n))
    out.append(_line("e2e_requests_total", {"code": "200", "method": "post", "path": SQL_PATH}, 2 * n + 1))
    out.append(_line("e2e_requests_total", {"code": "404", "method": "get", "path": QUOTED_PATH}, n // 2))
    out.append(_line("e2e_requests_total", {"code": "500", "method": "get"}, n // 4))

    family("e2e_bytes_total", "counter", "A float counter whose values have long shortest forms.")
    acc = 0.0
    for _ in range(n):
        acc += 0.1
    out.append(_line("e2e_bytes_total", {}, acc))

    family("e2e_resets_total", "counter", "A counter that resets once.")
    out.append(_line("e2e_resets_total", {}, float(n if t < RESET_AT else n % 5)))

    family("e2e_temperature_celsius", "gauge", "Gauges with distinct values (no topk ties).")
    out.append(_line("e2e_temperature_celsius", {"room": "attic"}, 10 + n * 0.1))
    out.append(_line("e2e_temperature_celsius", {"room": "kitchen"}, 20 + (n % 7) / 3))
    out.append(_line("e2e_temperature_celsius", {"room": UNICODE_ROOM}, -3.25 - n * 0.01))

    family("e2e_special", "gauge", "Values Timestream cannot store as a DOUBLE, and awkward finite ones.")
    specials = {
        "nan": float("nan"),
        "pos_inf": float("inf"),
        "neg_inf": float("-inf"),
        # No -0.0: Prometheus' remote-write encoder (gogoproto, ``if m.Value != 0``) omits a zero
        # double, so -0.0 always arrives as +0.0 and no remote storage can give the sign back.
        "denormal": 5e-324,
        "huge": 1.7976931348623157e308,
        "third": 1 / 3,
        "point3": 0.1 + 0.2,
        "alternating": float("nan") if n % 3 == 0 else float(n),
    }
    for kind, value in specials.items():
        out.append(_line("e2e_special", {"kind": kind}, value))

    family("e2e_latency_seconds", "histogram", "A classic histogram for two handlers.")
    bounds = ("0.05", "0.1", "0.25", "1", "+Inf")
    for handler, scale in (("/a", 1), ("/b", 3)):
        cumulative = 0
        for i, le in enumerate(bounds):
            cumulative += scale * n * (i + 1) + (n * n) % (i + 2)
            out.append(_line("e2e_latency_seconds_bucket", {"handler": handler, "le": le}, cumulative))
        out.append(_line("e2e_latency_seconds_sum", {"handler": handler}, cumulative * 0.137))
        out.append(_line("e2e_latency_seconds_count", {"handler": handler}, cumulative))

    family("e2e_rpc_seconds", "summary", "A summary whose 0.99 quantile is NaN.")
    out.append(_line("e2e_rpc_seconds", {"quantile": "0.5"}, 0.01 * (n % 5 + 1)))
    out.append(_line("e2e_rpc_seconds", {"quantile": "0.9"}, 0.02 * (n % 5 + 2)))
    out.append(_line("e2e_rpc_seconds", {"quantile": "0.99"}, float("nan")))
    out.append(_line("e2e_rpc_seconds_sum", {}, n * 0.0371))
    out.append(_line("e2e_rpc_seconds_count", {}, n * 3))

    family("e2e_flapping", "gauge", "Disappears for a while, then comes back.")
    if not FLAP_GAP[0] <= t < FLAP_GAP[1]:
        out.append(_line("e2e_flapping", {"flavour": "x"}, n))

    family("e2e_ephemeral", "gauge", "Series that live for a few seconds only.")
    if EPHEMERAL_1[0] <= t < EPHEMERAL_1[1]:
        out.append(_line("e2e_ephemeral", {"id": "1"}, 1))
    if EPHEMERAL_2[0] <= t < EPHEMERAL_2[1]:
        out.append(_line("e2e_ephemeral", {"id": "2"}, 2 + n / 8))

    family("e2e_shifting", "gauge", "Changes a label value once: the old series goes stale.")
    if t < SHIFT_AT:
        out.append(_line("e2e_shifting", {"mode": "a", "variant": "beta"}, n))
    else:
        out.append(_line("e2e_shifting", {"mode": "b"}, -n))

    return "\n".join(out) + "\n"


class ScrapeTarget(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.started = time.time()
        self.scrapes = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    def render(self) -> str:
        with self._lock:
            self.scrapes += 1
            n = self.scrapes
        return exposition(n, time.time() - self.started)

    def restart_clock(self) -> float:
        """Make ``t`` count from now (when the scraper is ready), so the timeline fits the window."""
        self.started = time.time()
        return self.started

    def start(self) -> ScrapeTarget:
        self.started = time.time()
        self._thread = threading.Thread(target=self.serve_forever, name="e2e-scrape-target", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ScrapeTarget

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404)
            return
        body = self.server.render().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
