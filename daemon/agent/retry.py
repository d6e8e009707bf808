"""Retrying model requests through 429/529/5xx storms (notes/reliability-security.md §5.4).

The SDK gives up after two quick retries and ignores ``retry-after`` above 60 s; this
waits the server out: exponential backoff with full jitter, never sooner than
``retry-after``, never faster than ``max_per_minute`` requests while failing, and
never past ``max_wait`` seconds of waiting in total (or the run's own deadline).
400/401/403/404/413 are not retried. Clock, sleep and randomness are injected.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from daemon.agent.model import ModelError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long and how often to keep trying."""

    max_wait: float = 900.0
    max_per_minute: float = 6.0
    base: float = 2.0
    cap: float = 120.0


@dataclass(slots=True)
class Retrier:
    """Runs a request until it succeeds, fails for good, or the wait would pass a limit."""

    policy: RetryPolicy
    sleep: Callable[[float], Awaitable[None]]
    clock: Callable[[], float]
    rng: random.Random = field(default_factory=random.Random)
    waited: float = 0.0
    attempts: int = 0

    def delay(self, failures: int, error: ModelError) -> float:
        """Seconds to wait after the ``failures``-th failure in a row."""
        backoff = self.rng.uniform(0, min(self.policy.cap, self.policy.base * 2 ** (failures - 1)))
        floor = 60.0 / self.policy.max_per_minute
        return max(backoff, floor, error.retry_after or 0.0)

    async def call(
        self,
        request: Callable[[], Awaitable[T]],
        *,
        deadline: float,
        on_retry: Callable[[ModelError, float], None] | None = None,
    ) -> T:
        """The result of ``request()``; a :class:`ModelError` once it cannot be retried."""
        failures = 0
        while True:
            self.attempts += 1
            try:
                return await request()
            except ModelError as error:
                if not error.retryable:
                    raise
                failures += 1
                wait = self.delay(failures, error)
                if self.waited + wait > self.policy.max_wait:
                    raise ModelError(
                        f"{error} (gave up after waiting {self.waited:.0f} s in all)",
                        status=error.status,
                    ) from None
                if self.clock() + wait > deadline:
                    raise ModelError(
                        f"{error} (the run's time limit comes before the next retry)",
                        status=error.status,
                    ) from None
                if on_retry is not None:
                    on_retry(error, wait)
                self.waited += wait
                await self.sleep(wait)
