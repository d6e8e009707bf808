"""A tiny Prometheus registry and the daemon's metrics (text exposition format 0.0.4).

Counters, gauges and histograms with fixed label names; each metric guards its
series with its own lock, so workers may update from any thread while the HTTP
server renders. Series render in label order, so the text is deterministic.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, TypeVar

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
TOKEN_KINDS: Final = ("input", "output", "cache_read", "cache_write")
WEBHOOK_RESULTS: Final = (
    "accepted",
    "duplicate",
    "bad_signature",
    "too_large",
    "ignored",
    "bad_request",
)
RUN_BUCKETS: Final = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
SCAN_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

LabelValues = tuple[str, ...]
_M = TypeVar("_M", bound="_Metric")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (``+Inf``, ``NaN``, ``3``, ``0.25``)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


class _Metric:
    """Name, help, label names and a lock; subclasses keep the series."""

    kind: str = "untyped"
    _reserved: frozenset[str] = frozenset()

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL.fullmatch(label) or label.startswith("__") or label in self._reserved:
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"duplicate label names for {name}")
        self.name = name
        self.help = help_text
        self.labelnames: LabelValues = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelValues:
        if labels.keys() != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return tuple(str(labels[name]) for name in self.labelnames)

    def samples(self) -> Iterator[str]:
        """The sample lines of this metric."""
        raise NotImplementedError

    def render(self) -> str:
        """The HELP, TYPE and sample lines of this metric."""
        head = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        return "\n".join([*head, *self.samples()]) + "\n"


class _Scalar(_Metric):
    """A metric with one value per label set (counter, gauge)."""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {} if labelnames else {(): 0.0}

    def _add(self, amount: float, labels: Mapping[str, str]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current value for ``labels`` (0 for a series never touched)."""
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def samples(self) -> Iterator[str]:
        """One line per series, in label order."""
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.labelnames, key)} {format_value(value)}"


class Counter(_Scalar):
    """A value that only goes up."""

    kind = "counter"

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        """Add ``amount`` (not negative) to the series of ``labels``."""
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot decrease")
        self._add(amount, labels)


class Gauge(_Scalar):
    """A value that goes up and down."""

    kind = "gauge"

    def set(self, value: float, /, **labels: str) -> None:
        """Set the series of ``labels`` to ``value``."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        """Add ``amount`` to the series of ``labels``."""
        self._add(amount, labels)

    def dec(self, amount: float = 1.0, /, **labels: str) -> None:
        """Subtract ``amount`` from the series of ``labels``."""
        self._add(-amount, labels)

    def replace(self, values: Mapping[LabelValues, float]) -> None:
        """Replace every series at once (label values in ``labelnames`` order)."""
        fresh: dict[LabelValues, float] = {}
        for key, value in values.items():
            fresh[self._key(dict(zip(self.labelnames, key, strict=True)))] = float(value)
        with self._lock:
            self._values = fresh


class Histogram(_Metric):
    """Observations counted into fixed cumulative buckets, with their sum and count."""

    kind = "histogram"
    _reserved = frozenset({"le"})

    def __init__(
        self, name: str, help_text: str, buckets: Iterable[float], labelnames: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labelnames)
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"{name}: buckets must be increasing and not empty")
        self.buckets: tuple[float, ...] = tuple(bounds)
        # Per series: counts per bucket (the last one is +Inf), then the sum.
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}
        if not labelnames:
            self._series[()] = self._empty()

    def _empty(self) -> tuple[list[int], list[float]]:
        return [0] * (len(self.buckets) + 1), [0.0]

    def observe(self, value: float, /, **labels: str) -> None:
        """Count ``value`` into the series of ``labels``."""
        key = self._key(labels)
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts, total = self._series.setdefault(key, self._empty())
            counts[index] += 1
            total[0] += value

    def samples(self) -> Iterator[str]:
        """Cumulative ``_bucket`` lines, then ``_sum`` and ``_count``, per series."""
        with self._lock:
            items = sorted((key, list(c), t[0]) for key, (c, t) in self._series.items())
        names = (*self.labelnames, "le")
        bounds = [*map(format_value, self.buckets), "+Inf"]
        for key, counts, total in items:
            running = 0
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                yield f"{self.name}_bucket{_labels(names, (*key, bound))} {running}"
            labels = _labels(self.labelnames, key)
            yield f"{self.name}_sum{labels} {format_value(total)}"
            yield f"{self.name}_count{labels} {running}"


class Registry:
    """Metrics by name, rendered in the order they were registered."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _register(self, metric: _M) -> _M:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        """Register and return a counter."""
        return self._register(Counter(name, help_text, labelnames))

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Gauge:
        """Register and return a gauge."""
        return self._register(Gauge(name, help_text, labelnames))

    def histogram(
        self, name: str, help_text: str, buckets: Iterable[float], labelnames: Sequence[str] = ()
    ) -> Histogram:
        """Register and return a histogram."""
        return self._register(Histogram(name, help_text, buckets, labelnames))

    def render(self) -> str:
        """Every metric in the text exposition format 0.0.4."""
        with self._lock:
            metrics = list(self._metrics.values())
        return "".join(metric.render() for metric in metrics)


class Metrics:
    """The daemon's metrics; the series with a known label set start at zero."""

    def __init__(self) -> None:
        self.registry = Registry()
        reg = self.registry
        self.jobs = reg.gauge("speckitd_jobs", "Jobs in the store by state.", ("state",))
        self.run_seconds = reg.histogram(
            "speckitd_run_seconds", "Wall time of agent runs in seconds.", RUN_BUCKETS
        )
        self.tokens = reg.counter("speckitd_tokens_total", "Model tokens used, by kind.", ("kind",))
        self.cost_usd = reg.counter("speckitd_cost_usd_total", "Estimated model cost in USD.")
        self.scan_seconds = reg.histogram(
            "speckitd_scan_seconds",
            "Wall time of repository scans in seconds.",
            SCAN_BUCKETS,
            ("repo",),
        )
        self.queue_depth = reg.gauge("speckitd_queue_depth", "Jobs waiting for a worker.")
        self.webhooks = reg.counter(
            "speckitd_webhooks_total", "Webhook deliveries received, by result.", ("result",)
        )
        for kind in TOKEN_KINDS:
            self.tokens.inc(0, kind=kind)
        for result in WEBHOOK_RESULTS:
            self.webhooks.inc(0, result=result)

    def set_jobs(self, counts: Mapping[str, int]) -> None:
        """Replace the job gauge with the store's counts by state."""
        self.jobs.replace({(state,): count for state, count in counts.items()})

    def render(self) -> str:
        """All metrics in the text exposition format 0.0.4."""
        return self.registry.render()
