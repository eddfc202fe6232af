"""Records to WriteRecords calls, grouped and cut where Timestream bills least (``plan_calls``)."""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate, groupby
from typing import NamedTuple

from connector.timestream import schema
from connector.timestream.calls import (
    KIB,
    Pairs,
    WriteCall,
    billed_bytes,
    call_of,
    common_dimensions,
    dimension_bytes,
    interned,
    shared_bytes,
)
from connector.timestream.records import TIME_BYTES, Dimensions, Record, StoredSeries, utf8_len

# Records of one timestamp (one scrape) below this count are packed with others into shared calls.
_MIN_SCRAPE_RECORDS = 20

# What planning reads of a record, each in one C call.
_series = operator.itemgetter(0)
_time = operator.attrgetter("time_ms")
_measure = operator.attrgetter("series.measure")
_size = operator.attrgetter("series.size")
_serial = operator.attrgetter("series.serial")
_dimension_set = operator.attrgetter("series.dimension_set")
# Scrape first, then metric name: a call of one metric's series can share its measure name too.
_grouping_key = operator.attrgetter("time_ms", "series.measure")


def plan_calls(records: Sequence[Record], per_call: int = schema.MAX_RECORDS_PER_CALL) -> list[WriteCall]:
    """Calls of up to ``per_call`` records, cut where billing is cheapest.

    Calls are planned per scrape (timestamp; tiny scrapes are pooled), so each call can share its
    time, ``job``, ``instance`` and external labels. Within a scrape, a metric with enough series
    gets calls of its own, which share its measure name too (``_records_for_own_calls``), and so do
    metrics that share labels the rest of the scrape lacks (``_label_groups``). Calls are cut just
    below a KiB boundary of billed bytes where that keeps them at least half full, and the few
    records still past one move into another call's room (``_shed_overflows``): Timestream rounds
    each call up to whole KiB.
    """
    ordered = sorted(records, key=_measure)
    ordered.sort(key=_time)  # stable: by time, then measure (two sorts on plain keys cost less than tuples)
    calls: list[WriteCall] = []
    small: list[Record] = []
    for scrape in _same_time_runs(ordered):
        if len(scrape) < _MIN_SCRAPE_RECORDS:
            small.extend(scrape)
        else:
            calls.extend(_scrape_calls(scrape, per_call))
    calls.extend(_split(small, per_call))
    return _shed_overflows(calls, per_call)


# Records over a call's last KiB boundary are moved into another call's room only when they are
# this few bytes: more seldom fit, and a smaller call costs no more than the first KiB it bills.
_MAX_OVERFLOW = 256


def _shed_overflows(calls: list[WriteCall], per_call: int) -> list[WriteCall]:
    """``calls``, where the few records that cross a call's last KiB boundary went into another
    call's unused room because that bills a KiB less.

    Every group of calls (a scrape's mixed calls, a metric's, a tiny scrape's) ends with room in
    its last KiB, and a few bytes past a boundary bill a whole KiB: here those bytes move to where
    the room is, even into a call of another scrape (whose records then carry their own time).
    """
    shared = [shared_bytes(call) for call in calls]
    billed = [billed_bytes(call, part) for call, part in zip(calls, shared, strict=True)]
    for i in sorted(range(len(calls)), key=lambda k: _overflow(billed[k])):
        over = _overflow(billed[i])
        if not 0 < over <= _MAX_OVERFLOW:
            continue
        leaving = _records_over(calls[i], over, billed[i], shared[i])
        leaving_bytes = sum(map(_size, leaving))
        for j, host in enumerate(calls):
            if j == i or not host.records or len(host.records) + len(leaving) > per_call:
                continue
            if leaving_bytes - len(leaving) * shared[j] > -billed[j] % KIB:
                continue  # even sharing all the host's records share, they would not fit in its room
            joined = _billed_bytes_joined(host, billed[j], shared[j], leaving)
            if -(-joined // KIB) == -(-billed[j] // KIB):
                gone = set(map(id, leaving))
                staying = [record for record in calls[i].records if id(record) not in gone]
                calls[i] = call_of(staying) if staying else _EMPTY
                calls[j] = call_of(sorted([*host.records, *leaving], key=_grouping_key))
                for k in (i, j):
                    shared[k] = shared_bytes(calls[k])
                    billed[k] = billed_bytes(calls[k], shared[k])
                break
    return [call for call in calls if call.records]


def _billed_bytes_joined(host: WriteCall, billed: int, shared_before: int, joining: Sequence[Record]) -> int:
    """The bytes the host call would bill with ``joining`` records too (as ``call_of`` would build it)."""
    sizes = billed + (len(host.records) - 1) * shared_before + sum(map(_size, joining))
    common = frozenset(host.common_dimensions).intersection(*map(_dimension_set, joining))
    shared = dimension_bytes(common)
    if host.common_time_ms is not None and all(r.time_ms == host.common_time_ms for r in joining):
        shared += TIME_BYTES
    if host.common_measure is not None and all(r.series.measure == host.common_measure for r in joining):
        shared += utf8_len(host.common_measure)
    return shared + sizes - (len(host.records) + len(joining)) * shared


def _overflow(billed: int) -> int:
    """The bytes past a call's last KiB boundary; all of them when it bills one KiB."""
    return billed if billed <= KIB else billed % KIB


def _records_over(call: WriteCall, over: int, billed: int, shared: int) -> Sequence[Record]:
    """The fewest of the call's smallest records that take at least ``over`` bytes with them."""
    if billed <= KIB:
        return call.records
    leaving: list[Record] = []
    for record in sorted(call.records, key=_size):
        leaving.append(record)
        over -= record.series.size - shared
        if over <= 0:
            break
    return leaving


class _Layout(NamedTuple):
    """One call of a scrape's plan, by the positions of its records in the scrape."""

    positions: tuple[int, ...]
    common_dimensions: Dimensions
    common_measure: str | None


# A target's scrapes repeat the same series in the same order, and a scrape's plan follows its
# series alone (their dimensions, measure names and metered sizes, never the values or the time):
# plans are kept by the serial numbers of a scrape's series, which no other series ever takes, so
# a plan holds no series alive. Bounded: a sender whose scrapes never repeat costs a key a scrape.
_PLANS: dict[tuple[int, bytes], list[_Layout]] = {}
_MAX_PLANS = 256


def _scrape_calls(scrape: Sequence[Record], per_call: int) -> list[WriteCall]:
    """``_plan_scrape``'s calls, planned once for a scrape of the same series in the same order."""
    key = (per_call, array("Q", map(_serial, scrape)).tobytes())
    known = _PLANS.get(key)
    time_ms = scrape[0].time_ms
    if known is not None:
        return [
            WriteCall([scrape[i] for i in layout.positions], layout.common_dimensions, time_ms, layout.common_measure)
            for layout in known
        ]
    calls = _plan_scrape(scrape, per_call)
    position = {id(record): i for i, record in enumerate(scrape)}
    layouts = [
        _Layout(tuple([position[id(record)] for record in call.records]), call.common_dimensions, call.common_measure)
        for call in calls
    ]
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    _PLANS[key] = layouts
    return calls


class _Group(NamedTuple):
    """Records of one scrape that bill less in calls of their own, sharing more than the scrape does."""

    records: Sequence[Record]
    common: Pairs  # the dimensions on all of them
    kib: int  # what their own calls bill
    mixed_bytes: int  # what they would add to the scrape's mixed calls instead


def _plan_scrape(scrape: Sequence[Record], per_call: int) -> list[WriteCall]:
    """Calls for the records of one timestamp, sorted by measure name.

    Records go to calls of their own when that bills less: a metric's (sharing its measure name),
    then records that share labels beyond the scrape's (``_label_groups``); the rest share mixed calls.
    """
    floor = _scrape_floor(scrape)  # on every record: its parts need not look again
    scrape_shared = dimension_bytes(floor) + TIME_BYTES
    groups, mixed = _metric_groups(scrape, floor, scrape_shared, per_call)
    label_groups, mixed = _label_groups(mixed, floor, scrape_shared, per_call)
    groups += label_groups
    # Own calls round up on their own; the mixed calls' last KiB often has room for them.
    pool = scrape_shared + sum(map(_size, mixed)) - len(mixed) * scrape_shared
    calls: list[WriteCall] = []
    moved = False
    for group in sorted(groups, key=lambda g: g.mixed_bytes / g.kib):
        if -(-(pool + group.mixed_bytes) // KIB) + (pool // -KIB) < group.kib:
            mixed.extend(group.records)
            pool += group.mixed_bytes
            moved = True
        else:
            calls.extend(_split(group.records, per_call, group.common))
    if moved:  # otherwise still in the scrape's measure order
        mixed.sort(key=_measure)
    calls.extend(_split(mixed, per_call, floor))
    return calls


def _metric_groups(
    scrape: Sequence[Record], floor: Pairs, scrape_shared: int, per_call: int
) -> tuple[list[_Group], list[Record]]:
    """The metrics of a scrape with enough series for calls of their own, and the records left."""
    groups: list[_Group] = []
    mixed: list[Record] = []
    start = 0
    for count in Counter(map(_measure, scrape)).values():  # in the scrape's (measure) order
        if count == 1:  # one record never pays for a call of its own
            mixed.append(scrape[start])
            start += 1
            continue
        metric = scrape[start : start + count]
        start += count
        # A few under a KiB never pay for a call of their own either.
        if sum(map(_size, metric)) - count * scrape_shared > KIB:
            common = common_dimensions(metric, floor)
            shared = TIME_BYTES + utf8_len(metric[0].series.measure) + dimension_bytes(common)
            taken, kib, mixed_bytes = _records_for_own_calls(metric, scrape_shared, shared, per_call)
            if taken:
                groups.append(_Group(metric[:taken], common, kib, mixed_bytes))
                metric = metric[taken:]
        mixed.extend(metric)
    return groups, mixed


# Label groups tried per scrape: each one costs a pass over the records' distinct sets of labels.
_MAX_LABEL_GROUPS = 4


def _label_groups(
    mixed: list[Record], floor: Pairs, scrape_shared: int, per_call: int
) -> tuple[list[_Group], list[Record]]:
    """Records of different metrics that share labels beyond the scrape's, in calls of their own.

    A target's metrics often share labels the rest of its scrape lacks (a remote's ``url`` and
    ``remote_name``, a disk's ``device``, NaN summaries' special value): in calls of their own
    those labels count once. The label that would save the most bytes goes first; its records
    leave the mixed calls when that bills less, as a metric's do (``_records_for_own_calls``).
    """
    groups: list[_Group] = []
    holding: dict[Pairs, list[int]] = {}  # the records' distinct sets of pairs beyond the floor -> their indexes
    for i, record in enumerate(mixed):
        extra = _beyond(record.series, floor)
        if extra:
            holding.setdefault(extra, []).append(i)
    counts: dict[tuple[str, str], int] = {}
    for extra, at in holding.items():
        for pair in extra:
            counts[pair] = counts.get(pair, 0) + len(at)
    weights = {pair: (count - 1) * (len(pair[0]) + len(pair[1])) for pair, count in counts.items() if count > 1}
    leaving: set[int] = set()
    for pair in sorted(weights, key=weights.__getitem__, reverse=True)[:_MAX_LABEL_GROUPS]:
        chosen: list[int] = []
        sets = []  # the members' distinct sets beyond the floor: what they all share is in each
        for extra, at in holding.items():
            if pair in extra:
                staying = [i for i in at if i not in leaving]
                if staying:
                    chosen += staying
                    sets.append(extra)
        if len(chosen) < 2:
            continue
        chosen.sort()  # back in the mixed records' (measure) order
        members = [mixed[i] for i in chosen]
        common = floor | frozenset.intersection(*sets)
        shared = TIME_BYTES + dimension_bytes(common)
        taken, kib, mixed_bytes = _records_for_own_calls(members, scrape_shared, shared, per_call)
        if not taken:  # labels that would save fewer bytes seldom pay: stop looking
            break
        groups.append(_Group(members[:taken], common, kib, mixed_bytes))
        leaving.update(chosen[:taken])
    if leaving:
        mixed = [record for i, record in enumerate(mixed) if i not in leaving]
    return groups, mixed


def _beyond(series: StoredSeries, floor: Pairs) -> Pairs:
    """The series' dimensions that its scrape's records do not all share."""
    known = series.beyond
    if known is not None and known[0] is floor and known[1] is not None:
        return known[1]
    extra = interned(series.dimension_set - floor, _EXTRAS)  # one object per set: records are grouped by it
    series.beyond = (floor, extra)
    return extra


def _scrape_floor(scrape: Sequence[Record]) -> Pairs:
    """The (name, value) pairs on every record of a scrape, as one object per set (``interned``).

    A series remembers the last such set it held (``StoredSeries.beyond``): a target's scrapes
    share the same one, so most records are known to hold it without a look at their dimensions.
    """
    floor = interned(scrape[0].series.dimension_set & scrape[-1].series.dimension_set, _FLOORS)
    for series in map(_series, scrape):
        known = series.beyond
        if known is not None and known[0] is floor:
            continue
        if not floor <= series.dimension_set:
            floor = interned(floor & series.dimension_set, _FLOORS)
        if known is None or known[0] is not floor:
            series.beyond = (floor, None)
    return floor


# Scrapes of one target share the same dimensions: one object for them lets ``_beyond`` compare
# identities. Floors are as many as targets, sets beyond them up to one per series (``interned``).
_FLOORS: dict[Pairs, Pairs] = {}
_EXTRAS: dict[Pairs, Pairs] = {}


def _records_for_own_calls(
    records: Sequence[Record], scrape_shared: int, shared: int, per_call: int
) -> tuple[int, int, int]:
    """How many of ``records`` bill least in calls of their own; the rest join mixed calls.

    In a mixed call each record carries its measure name and every label beyond the scrape's; in
    a call of their own what the records share (``shared`` bytes: a metric's name and the labels
    its series share) counts once, but the call rounds up to whole KiB. So the records take calls
    of their own for as many of them as fill those calls best, and leave the remainder to the
    mixed calls, whose rounding is paid once for all they hold (counted here in bytes). Returns
    that count, the KiB their calls bill and the bytes those records would take mixed.
    """
    sizes = list(map(_size, records))
    mixed = [size - scrape_shared for size in sizes]
    mixed_total = sum(mixed)
    mixed_before = list(accumulate(mixed, initial=0))  # mixed bytes of the first n records
    best = (mixed_total, 0, 0, 0)  # (cost, count, KiB, mixed bytes)
    closed_kib = 0
    for start in range(0, len(sizes), per_call):
        # Own bytes of a call holding this chunk's first n records: the shared part counts once.
        own = list(accumulate((size - shared for size in sizes[start : start + per_call]), initial=shared))[1:]
        for kib in range(1, -(-own[-1] // KIB) + 1):
            count = bisect_right(own, kib * KIB)  # the most records that fit in ``kib`` KiB
            if count:
                taken = start + count
                cost = (closed_kib + kib) * KIB + mixed_total - mixed_before[taken]
                if cost < best[0]:
                    best = (cost, taken, closed_kib + kib, mixed_before[taken])
        closed_kib += -(-own[-1] // KIB)
    return best[1], best[2], best[3]


def _same_time_runs(ordered: Sequence[Record]) -> Iterable[list[Record]]:
    for _, run in groupby(ordered, key=_time):
        yield list(run)


def _split(records: Sequence[Record], per_call: int, floor: Pairs = frozenset()) -> list[WriteCall]:
    """Calls of at most ``per_call`` of ``records``, cut just below KiB boundaries; ``floor`` as in
    ``common_dimensions``."""
    if len(records) <= per_call:
        return [call_of(records, floor)] if records else []
    common = common_dimensions(records, floor)  # on every record, so on every call's: its floor
    same_time = records[0].time_ms == records[-1].time_ms
    shared = dimension_bytes(common) + (TIME_BYTES if same_time else 0)
    calls = []
    start = 0
    while start < len(records):
        end = min(start + per_call, len(records))
        if end < len(records):
            end = _kib_cut(records, start, end, shared, per_call // 2)
        calls.append(call_of(records[start:end], common))
        start = end
    return calls


def _kib_cut(records: Sequence[Record], start: int, end: int, shared: int, minimum: int) -> int:
    """The end of a call starting at ``start`` that stops just below a KiB boundary of billed bytes."""
    sizes = [size - shared for size in map(_size, records[start:end])]
    total = sum(sizes) + shared
    boundary = total - total % KIB
    cut = end
    while cut - start > minimum and total > boundary:
        cut -= 1
        total -= sizes[cut - start]
    return cut if total <= boundary else end


_EMPTY = WriteCall(records=(), common_dimensions=(), common_time_ms=None, common_measure=None)
