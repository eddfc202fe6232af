"""3. Billed write units per million samples on the captured Prometheus traffic.

Every captured write request (timestamps shifted so the latest sample is a minute ago, relative
offsets kept) goes once through ``Connector.handle`` into one table of the embedded store, and its
records (the connector's own ``translate`` output) go once in the official Go connector's layout
(every record carries its Dimensions, MeasureName, Time and MeasureValueType, no CommonAttributes,
100 per call in request order) into a second table. Figures are the store's metering
(``stats()["billed_write_units"]`` before and after each layout); the same units computed from the
formula in FACTS.md over the exact call parameters are printed as a cross-check. Deterministic: one run.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.common import (
    ACCESS_KEY_ID,
    DATABASE,
    SECRET_ACCESS_KEY,
    Row,
    Section,
    captured_writes,
    formula_write_units,
    repeated_calls,
    sample_count,
    settings_for,
    shift_to_now,
    write_request,
)
from bench.store import StoreProcess
from connector.app import Connector
from connector.auth import Identity
from connector.http import Headers
from connector.prom.write_v1 import decode_write_request
from connector.timestream.clients import ClientCache
from connector.timestream.planning import plan_calls
from connector.timestream.records import translate
from connector.timestream.writer import Writer
from connector.write import translate_v1

TABLE_CONNECTOR = "BenchBillingConnector"
TABLE_BASELINE = "BenchBillingRepeated"


def _where_bytes_go(parameters: dict[str, Any]) -> Counter[str]:
    """One call's billed bytes by what they carry (FACTS.md's formula), rounding included."""
    common = parameters["CommonAttributes"]
    shares: Counter[str] = Counter()
    shares["common attributes, once per call"] = formula_write_units({"CommonAttributes": common, "Records": []})[0]
    for item in parameters["Records"]:
        shares["values (8 B each)"] += 8
        shares["measure names in records"] += len(item.get("MeasureName", "").encode())
        shares["times in records"] += 8 if "Time" in item else 0
        shares["dimensions in records"] += sum(
            len(d["Name"].encode()) + len(d["Value"].encode()) for d in item.get("Dimensions", ())
        )
    total, units = formula_write_units(parameters)
    shares["rounding up to whole KiB"] = units * 1024 - total
    return shares


def run(store: StoreProcess | None = None, passes: int = 1) -> Section:
    own_store = store is None
    store = store or StoreProcess()
    try:
        return _run(store, passes)
    finally:
        if own_store:
            store.stop()


def _run(store: StoreProcess, passes: int) -> Section:
    store.set_faults()
    for table in (TABLE_CONNECTOR, TABLE_BASELINE):
        store.create_table(table, memory_retention_hours=24)
    captured = captured_writes()
    span_ms = 0
    requests = []
    # Each pass is the whole capture again, moved back in time past the previous one (no conflicts).
    end_ms = int(time.time() * 1000) - 60_000
    for _ in range(passes):
        shifted = shift_to_now(captured, end_ms)
        messages = [item.message() for item in shifted]
        stamps = [s.timestamp for m in messages for ts in m.timeseries for s in ts.samples]
        span_ms = max(stamps) - min(stamps) + 1000
        end_ms -= span_ms
        requests.extend(shifted)
    samples = sum(sample_count(item.message()) for item in requests)

    settings = settings_for(store.url, TABLE_CONNECTOR)
    connector = Connector(settings)
    before = store.stats()
    statuses = []
    formula_connector = 0
    shares: Counter[str] = Counter()
    for item in requests:
        response = connector.handle(write_request(item.body, item.headers))
        statuses.append(response.status)
        translation = translate(item.message().timeseries)
        for call in plan_calls(translation.records) if translation.records else []:
            parameters = call.parameters(DATABASE, TABLE_CONNECTOR)
            formula_connector += formula_write_units(parameters)[1]
            shares.update(_where_bytes_go(parameters))
    middle = store.stats()

    client = ClientCache(settings).write_client(Identity(ACCESS_KEY_ID, SECRET_ACCESS_KEY))
    writer = Writer(4, settings.max_attempts)
    formula_baseline = 0
    baseline_written = 0
    for item in requests:
        message = decode_write_request(Headers(item.headers), item.body, settings.max_body_bytes)
        calls = repeated_calls(translate_v1(message).records)
        formula_baseline += sum(formula_write_units(c.parameters(DATABASE, TABLE_BASELINE))[1] for c in calls)
        result = writer.write(client, DATABASE, TABLE_BASELINE, calls, time.monotonic() + 60)  # type: ignore[arg-type]
        baseline_written += result.written
    after = store.stats()

    def delta(first: dict, second: dict, key: str) -> int:  # type: ignore[type-arg]
        return int(second[key] - first[key])

    units_connector = delta(before, middle, "billed_write_units")
    units_baseline = delta(middle, after, "billed_write_units")
    per_million = 1e6 / samples
    ratio = units_connector / units_baseline if units_baseline else float("nan")
    section = Section("Billing")
    section.rows = [
        Row(
            "Billed write units per 1M samples (captured traffic)",
            units_connector * per_million,
            "units",
            units_baseline * per_million,
            "every dimension on every record",
            ratio,
            "ratio <= 0.50",
            ratio <= 0.5,
        ),
        Row(
            "  floor of this layout and plan: metered bytes without per-call KiB rounding",
            delta(before, middle, "billed_bytes") / 1024 * per_million,
            "units",
            units_baseline * per_million,
            "every dimension on every record",
            delta(before, middle, "billed_bytes") / 1024 / units_baseline if units_baseline else float("nan"),
        ),
    ]
    section.details += [
        f"{samples} samples in {len(requests)} captured requests ({passes} pass(es)); HTTP statuses "
        f"{sorted(set(statuses))}",
        f"connector: {delta(before, middle, 'write_calls')} calls, {delta(before, middle, 'records_written')} "
        f"records written, {delta(before, middle, 'records_rejected')} rejected, "
        f"{delta(before, middle, 'billed_bytes')} billed bytes, {units_connector} units (formula: {formula_connector})",
        f"repeated layout: {delta(middle, after, 'write_calls')} calls, {delta(middle, after, 'records_written')} "
        f"records written, {delta(middle, after, 'records_rejected')} rejected, {delta(middle, after, 'billed_bytes')} "
        f"billed bytes, {units_baseline} units (formula: {formula_baseline})",
        f"bytes per sample: connector {delta(before, middle, 'billed_bytes') / samples:.1f}, "
        f"repeated {delta(middle, after, 'billed_bytes') / samples:.1f}; units are whole KiB per call, so "
        f"{delta(before, middle, 'billed_bytes') / max(1, delta(before, middle, 'write_calls')):.0f} B per call "
        f"bills {units_connector / max(1, delta(before, middle, 'write_calls')):.2f} units",
    ]
    billed = sum(shares.values())
    section.details.append(
        "where the connector's billed bytes go: "
        + ", ".join(
            f"{name} {100 * count / billed:.0f}% ({count / samples:.1f} B/sample)"
            for name, count in shares.most_common()
        )
    )
    if delta(before, middle, "records_written") != samples or baseline_written != samples:
        section.details.append(
            f"WARNING: not every sample was written (connector {delta(before, middle, 'records_written')}, "
            f"repeated {baseline_written}, of {samples}): the figures are not comparable"
        )
    return section
