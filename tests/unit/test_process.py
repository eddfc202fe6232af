"""The process settings: a request's records stay in the young generation until it is answered."""

import gc
from collections.abc import Iterator

import pytest

from connector import handler, process
from connector.timestream.planning import plan_calls
from connector.timestream.records import translate
from tests.helpers import captured_writes


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    yield
    gc.set_threshold(*before)


def _collections_while_a_request_is_held() -> int:
    """Young collections while 2,000 samples' records and calls are alive, as during a write."""
    messages = [item.message() for item in captured_writes()]
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        held = []
        for message in messages[:6]:
            records = translate(message.timeseries).records
            held.append((records, plan_calls(records) if records else []))
    finally:
        gc.callbacks.remove(count)
    assert sum(len(records) for records, _ in held) >= 2000
    return len(collections)


def test_a_held_request_is_collected_with_python_defaults_but_not_once_tuned(default_thresholds: None) -> None:
    assert _collections_while_a_request_is_held() > 0  # what the tuning is for: it can fail
    process.tune_garbage_collector()
    assert _collections_while_a_request_is_held() == 0
    assert gc.get_threshold()[1:] == (10, 10)  # the older generations as Python has them


def test_tuning_never_lowers_a_larger_threshold(default_thresholds: None) -> None:
    gc.set_threshold(10 * process.YOUNG_GENERATION_OBJECTS, 5, 7)
    process.tune_garbage_collector()
    assert gc.get_threshold() == (10 * process.YOUNG_GENERATION_OBJECTS, 5, 7)


def test_a_cold_start_tunes_the_lambda_runtime(default_thresholds: None) -> None:
    previous = handler.install(None)
    try:
        handler.connector()
        assert gc.get_threshold()[0] == process.YOUNG_GENERATION_OBJECTS
    finally:
        handler.install(previous)
