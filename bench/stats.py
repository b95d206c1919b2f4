"""Merging what the workers saw into the figures of one measurement window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.servers import Samples

EventKey = tuple[str, int]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def spread(values: Iterable[float], scale: float = 1000.0) -> dict[str, float]:
    """p50, p99, p99.9 and max, multiplied by ``scale`` (seconds to milliseconds by default)."""
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50) * scale,
        "p99": percentile(ordered, 99) * scale,
        "p999": percentile(ordered, 99.9) * scale,
        "max": (ordered[-1] if ordered else 0.0) * scale,
    }


def merge_events(results: Sequence[Mapping[str, Any]]) -> dict[EventKey, list[float]]:
    """Per event: [receivers, last receive time, planned send time (-1 if unknown)], over all workers."""
    merged: dict[EventKey, list[float]] = {}
    for result in results:
        for key, (count, last, planned) in result["events"].items():
            record = merged.get(key)
            if record is None:
                merged[key] = [count, last, planned]
            else:
                record[0] += count
                record[1] = max(record[1], last)
                if record[2] < 0:
                    record[2] = planned
    for result in results:
        for key, planned in result["sends"].items():
            record = merged.get(key)
            if record is not None and record[2] < 0:
                record[2] = planned
    return merged


def summarise(
    results: Sequence[Mapping[str, Any]],
    *,
    start: float,
    end: float,
    sends: int,
    expected: int,
    cpu_seconds: float,
    samples: Samples,
    rss_before: int,
) -> dict[str, Any]:
    """The figures of one window whose sends were planned in ``[start, end]``.

    ``expected`` is the number of deliveries the sends should cause (each send times the receivers
    of its room). Latency is per event, at its last receiver, from its planned send time.
    """
    merged = merge_events(results)
    latencies: list[float] = []
    delivered = 0
    other = 0
    finished = end
    for count, last, planned in merged.values():
        if start - 0.002 <= planned <= end + 0.002:
            latencies.append(last - planned)
            delivered += int(count)
            finished = max(finished, last)
        else:
            other += int(count)
    duration = max(end - start, 1e-9)
    errors: Counter[str] = Counter()
    closes: Counter[int] = Counter()
    for result in results:
        errors.update(result["errors"])
        closes.update({int(k): v for k, v in result["closes"].items()})
    late = [x for result in results for x in result["late"]]
    rtts = [x for result in results for x in result["rtts"]]
    generator = [
        {
            "cpu": result["cpu"] / max(result["wall"], 1e-9),
            "lag_p99_ms": result["lag"]["p99"] * 1000,
            "lag_max_ms": result["lag"]["max"] * 1000,
        }
        for result in results
    ]
    return {
        "sends": sends,
        "events": len(latencies),
        "expected": expected,
        "delivered": delivered,
        "other_deliveries": other,
        "reach": delivered / expected if expected else 0.0,
        # Deliveries over the time from the first planned send to the last delivery: what the
        # server sustained, not what was offered.
        "deliveries_per_s": delivered / max(finished - start, 1e-9),
        "offered_per_s": expected / duration,
        "latency_ms": spread(latencies),
        "rtt_ms": spread(rtts),
        "cpu_s": cpu_seconds,
        "cpu_us_per_delivery": cpu_seconds / delivered * 1e6 if delivered else 0.0,
        "server_lag_ms": spread(samples.healthz),
        "healthz_failures": samples.failures,
        "rss_before": rss_before,
        "rss_peak": max(samples.rss, default=rss_before),
        "generator": generator,
        "generator_cpu_max": max((g["cpu"] for g in generator), default=0.0),
        "generator_lag_p99_ms": max((g["lag_p99_ms"] for g in generator), default=0.0),
        "send_late_ms": spread(late),
        "errors": dict(errors),
        "closes": dict(closes),
    }


def histogram(text: str, name: str, labels: str = "") -> dict[float, float]:
    """The cumulative buckets (upper bound → count) of one Prometheus histogram in ``/metrics`` text.

    ``labels`` are the series' other labels as they appear before ``le``, e.g. ``generation="2"``.
    """
    prefix = f'{name}_bucket{{{labels + "," if labels else ""}le="'
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            bound, _, count = line[len(prefix) :].partition('"} ')
            buckets[float(bound)] = float(count)
    return buckets


def gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def stalls(before: Mapping[float, float], after: Mapping[float, float], over: float) -> dict[str, Any]:
    """What a histogram saw between two scrapes: how many observations, how many above ``over`` (a bucket
    bound), and the bounds ``(low, high]`` of the largest one (``high`` = inf past the last bucket)."""
    delta = {bound: after.get(bound, 0.0) - before.get(bound, 0.0) for bound in sorted(after)}
    total = delta.get(float("inf"), 0.0)
    within = [count for bound, count in delta.items() if bound <= over]  # cumulative: the last one
    above = total - (within[-1] if within else 0.0)
    low, high = 0.0, 0.0
    previous = 0.0
    for bound, count in delta.items():
        if count >= total:
            high, low = bound, previous
            break
        previous = bound
    return {"count": int(total), "over": int(above), "max_low": low if total else 0.0, "max_high": high}
