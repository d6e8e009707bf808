"""What the HTTP endpoints ask of the running service: health, metrics, runs, webhooks.

A webhook is a hint, never a command (DESIGN §8): a delivery for a configured
repository asks for a fetch and a scan; a delivery seen before does nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from daemon.service.core import Service
from daemon.service.http import Hooks
from daemon.service.metrics import Metrics
from daemon.service.webhook import Delivery
from daemon.store.lifecycle import JobState


def observe(metrics: Metrics) -> Callable[[str, dict[str, Any]], None]:
    """A service event listener that feeds the Prometheus metrics."""

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "scan":
            metrics.scan_seconds.observe(float(data["seconds"]), repo=str(data["repo"]))
        elif name == "job.done":
            metrics.run_seconds.observe(float(data["seconds"]))
            usage = data["usage"]
            for kind in ("input", "output", "cache_read", "cache_write"):
                metrics.tokens.inc(float(getattr(usage, kind)), kind=kind)
            metrics.cost_usd.inc(float(usage.cost_usd))

    return on_event


def hooks(
    service: Service,
    metrics: Metrics,
    fetch: Callable[[str], None],
    loop: asyncio.AbstractEventLoop,
) -> Hooks:
    """The endpoints' view of ``service``; ``fetch(name)`` fetches then scans a repository."""
    names = {repo.name.lower(): repo.name for repo in service.settings.repos}

    def render() -> str:
        counts = service.store.counts()
        metrics.set_jobs({state.value: count for state, count in counts.items()})
        metrics.queue_depth.set(float(counts.get(JobState.QUEUED, 0)))
        return metrics.render()

    def runs(limit: int) -> list[dict[str, Any]]:
        jobs = service.store.jobs()[-limit:]
        return [
            {
                k: (v.value if isinstance(v, JobState) else v)
                for k, v in dataclasses.asdict(job).items()
            }
            for job in reversed(jobs)
        ]

    def webhook(delivery: Delivery) -> bool:
        if service.store.seen_delivery(delivery.id, service.clock()):
            return False
        name = names.get((delivery.repo or "").lower())
        if name is not None:
            loop.call_soon_threadsafe(fetch, name)
        return True

    return Hooks(
        healthy=lambda: True,
        ready=lambda: service.ready,
        metrics=render,
        runs=runs,
        webhook=webhook,
    )
