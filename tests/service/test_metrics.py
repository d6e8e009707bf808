"""The Prometheus registry renders the text exposition format 0.0.4 exactly."""

from __future__ import annotations

import re
import threading

import pytest

from daemon.service.metrics import (
    TOKEN_KINDS,
    WEBHOOK_RESULTS,
    Counter,
    Histogram,
    Metrics,
    Registry,
    format_value,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (3.0, "3"),
        (-2, "-2"),
        (0.25, "0.25"),
        (1e-05, "1e-05"),
        (2.0**60, "1.152921504606847e+18"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_unlabelled_counter_starts_at_zero():
    registry = Registry()
    registry.counter("jobs_total", "Jobs.")
    assert registry.render() == "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 0\n"


def test_labelled_counter_renders_series_in_label_order_and_escapes():
    registry = Registry()
    counter = registry.counter("hits_total", 'Hits \\ by "path"\nsecond line.', ("path", "code"))
    counter.inc(path="/b", code="200")
    counter.inc(2.5, path="/a", code="200")
    counter.inc(path='say "hi"\\\n', code="404")
    assert registry.render() == (
        '# HELP hits_total Hits \\\\ by "path"\\nsecond line.\n'
        "# TYPE hits_total counter\n"
        'hits_total{path="/a",code="200"} 2.5\n'
        'hits_total{path="/b",code="200"} 1\n'
        'hits_total{path="say \\"hi\\"\\\\\\n",code="404"} 1\n'
    )


def test_labelled_metric_without_series_renders_only_its_header():
    registry = Registry()
    registry.gauge("depth", "Depth.", ("queue",))
    assert registry.render() == "# HELP depth Depth.\n# TYPE depth gauge\n"


def test_gauge_set_inc_dec_and_replace():
    registry = Registry()
    gauge = registry.gauge("jobs", "Jobs by state.", ("state",))
    gauge.set(4, state="queued")
    gauge.inc(state="queued")
    gauge.dec(2, state="queued")
    gauge.set(1, state="running")
    assert gauge.value(state="queued") == 3
    gauge.replace({("done",): 7, ("queued",): 0})
    assert registry.render() == (
        "# HELP jobs Jobs by state.\n"
        "# TYPE jobs gauge\n"
        'jobs{state="done"} 7\n'
        'jobs{state="queued"} 0\n'
    )


def test_histogram_renders_cumulative_buckets_sum_and_count():
    registry = Registry()
    histogram = registry.histogram("run_seconds", "Run time.", (0.5, 1))
    for value in (0.25, 1, 3):
        histogram.observe(value)
    assert registry.render() == (
        "# HELP run_seconds Run time.\n"
        "# TYPE run_seconds histogram\n"
        'run_seconds_bucket{le="0.5"} 1\n'
        'run_seconds_bucket{le="1"} 2\n'
        'run_seconds_bucket{le="+Inf"} 3\n'
        "run_seconds_sum 4.25\n"
        "run_seconds_count 3\n"
    )


def test_histogram_with_labels_puts_le_last():
    registry = Registry()
    histogram = registry.histogram("scan_seconds", "Scan time.", (0.1,), ("repo",))
    histogram.observe(0.05, repo="b/b")
    histogram.observe(0.5, repo="a/a")
    assert registry.render() == (
        "# HELP scan_seconds Scan time.\n"
        "# TYPE scan_seconds histogram\n"
        'scan_seconds_bucket{repo="a/a",le="0.1"} 0\n'
        'scan_seconds_bucket{repo="a/a",le="+Inf"} 1\n'
        'scan_seconds_sum{repo="a/a"} 0.5\n'
        'scan_seconds_count{repo="a/a"} 1\n'
        'scan_seconds_bucket{repo="b/b",le="0.1"} 1\n'
        'scan_seconds_bucket{repo="b/b",le="+Inf"} 1\n'
        'scan_seconds_sum{repo="b/b"} 0.05\n'
        'scan_seconds_count{repo="b/b"} 1\n'
    )


def test_unobserved_unlabelled_histogram_renders_zeros():
    histogram = Histogram("h", "H.", (1,))
    assert histogram.render() == (
        '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 0\nh_bucket{le="+Inf"} 0\n'
        "h_sum 0\nh_count 0\n"
    )


def test_registry_renders_in_registration_order():
    registry = Registry()
    registry.gauge("b", "B.")
    registry.counter("a_total", "A.")
    assert registry.render() == (
        "# HELP b B.\n# TYPE b gauge\nb 0\n# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
    )


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda r: r.counter("1bad", "x"), id="bad-name"),
        pytest.param(lambda r: r.counter("ok", "x", ("bad-label",)), id="bad-label"),
        pytest.param(lambda r: r.counter("ok", "x", ("__reserved",)), id="reserved-label"),
        pytest.param(lambda r: r.counter("ok", "x", ("a", "a")), id="duplicate-label"),
        pytest.param(lambda r: r.histogram("ok", "x", (1,), ("le",)), id="le-label"),
        pytest.param(lambda r: r.histogram("ok", "x", (2, 1)), id="decreasing-buckets"),
        pytest.param(lambda r: r.histogram("ok", "x", (1, 1)), id="repeated-bucket"),
        pytest.param(lambda r: r.histogram("ok", "x", ()), id="no-buckets"),
        pytest.param(lambda r: [r.gauge("g", "x"), r.counter("g", "x")], id="registered-twice"),
    ],
)
def test_invalid_definitions_are_refused(make):
    with pytest.raises(ValueError, match=r"."):
        make(Registry())


def test_wrong_labels_and_negative_increments_are_refused():
    counter = Counter("c_total", "C.", ("kind",))
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc()
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(kind="a", other="b")
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1, kind="a")


def test_updates_from_many_threads_are_not_lost():
    counter = Counter("c_total", "C.", ("kind",))
    histogram = Histogram("h", "H.", (1,))

    def work():
        for _ in range(2000):
            counter.inc(kind="x")
            histogram.observe(0.5)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert counter.value(kind="x") == 16000
    assert "h_count 16000\n" in histogram.render()


def test_daemon_metrics_start_with_known_series_at_zero():
    text = Metrics().render()
    for kind in TOKEN_KINDS:
        assert f'speckitd_tokens_total{{kind="{kind}"}} 0\n' in text
    for result in WEBHOOK_RESULTS:
        assert f'speckitd_webhooks_total{{result="{result}"}} 0\n' in text
    assert "speckitd_cost_usd_total 0\n" in text
    assert "speckitd_queue_depth 0\n" in text
    assert 'speckitd_run_seconds_bucket{le="+Inf"} 0\n' in text
    names = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    assert names == [
        ("speckitd_jobs", "gauge"),
        ("speckitd_run_seconds", "histogram"),
        ("speckitd_tokens_total", "counter"),
        ("speckitd_cost_usd_total", "counter"),
        ("speckitd_scan_seconds", "histogram"),
        ("speckitd_queue_depth", "gauge"),
        ("speckitd_webhooks_total", "counter"),
    ]


def test_set_jobs_replaces_the_counts_by_state():
    metrics = Metrics()
    metrics.set_jobs({"queued": 2, "running": 1})
    metrics.set_jobs({"done": 3})
    text = metrics.render()
    assert 'speckitd_jobs{state="done"} 3\n' in text
    assert "queued" not in text


def test_every_sample_line_is_well_formed():
    metrics = Metrics()
    metrics.tokens.inc(1200, kind="input")
    metrics.cost_usd.inc(0.0375)
    metrics.run_seconds.observe(42.5)
    metrics.scan_seconds.observe(0.2, repo="acme/todo")
    sample = re.compile(r'[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? (\d+(\.\d+)?(e[+-]\d+)?|\+Inf)')
    for line in metrics.render().splitlines():
        assert line.startswith("# ") or sample.fullmatch(line), line
