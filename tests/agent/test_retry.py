"""Retrying model requests: backoff floors, retry-after, give-up limits; a fake clock, no sleeps."""

from __future__ import annotations

import asyncio
import calendar
import random
from collections.abc import Awaitable, Callable

import pytest

from daemon.agent.client import retry_after
from daemon.agent.model import ModelError
from daemon.agent.retry import Retrier, RetryPolicy
from tests.agent.support import FakeClock

START = 1_000.0
FAR = 1e12


class Lowest(random.Random):
    """Full jitter at its lowest: the backoff adds nothing over the floors."""

    def uniform(self, a: float, b: float) -> float:
        """The lower bound."""
        return a


class Highest(random.Random):
    """Full jitter at its highest: the whole exponential backoff."""

    def uniform(self, a: float, b: float) -> float:
        """The upper bound."""
        return b


def overloaded(retry_after: float | None = None) -> ModelError:
    return ModelError("overloaded", status=529, retryable=True, retry_after=retry_after)


def failing(errors: list[Exception], result: str = "ok") -> Callable[[], Awaitable[str]]:
    """A request that raises ``errors`` in turn, then returns ``result``."""
    pending = list(errors)

    async def request() -> str:
        if pending:
            raise pending.pop(0)
        return result

    return request


def retrier(clock: FakeClock, rng: random.Random | None = None, **policy: float) -> Retrier:
    return Retrier(RetryPolicy(**policy), clock.sleep, clock, rng or random.Random(7))  # noqa: S311 - seeded jitter


def test_retries_until_success_no_faster_than_the_rate_floor():
    """Retryable failures are retried; each wait is at least 60 / max_per_minute seconds."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_per_minute=6)
    request = failing([overloaded(), overloaded(), overloaded()])
    assert asyncio.run(retry.call(request, deadline=FAR)) == "ok"
    assert clock.sleeps == [10.0, 10.0, 10.0]
    assert retry.attempts == 4
    assert retry.waited == 30.0


@pytest.mark.parametrize("seed", range(8))
def test_jittered_waits_never_go_below_the_floors(seed):
    """Whatever the jitter, no wait is shorter than the rate floor or the server's retry-after."""
    clock = FakeClock(START)
    rng = random.Random(seed)  # noqa: S311 - seeded jitter, not cryptography
    retry = retrier(clock, rng, max_per_minute=20, base=8.0, cap=60.0)
    errors: list[Exception] = [overloaded(), overloaded(7.5), overloaded(), overloaded(0.5)]
    assert asyncio.run(retry.call(failing(errors), deadline=FAR)) == "ok"
    floors = [3.0, 7.5, 3.0, 3.0]
    assert len(clock.sleeps) == 4
    assert all(wait >= floor for wait, floor in zip(clock.sleeps, floors, strict=True))
    assert all(wait <= 60.0 for wait in clock.sleeps)


@pytest.mark.parametrize(
    ("max_per_minute", "after", "wait"),
    [
        (6, None, 10.0),
        (6, 30.0, 30.0),
        (6, 4.0, 10.0),
        (60, None, 1.0),
        (60, 0.5, 1.0),
        (60, 90.0, 90.0),
    ],
)
def test_wait_is_the_larger_of_rate_floor_and_retry_after(max_per_minute, after, wait):
    """With no jitter, the wait is max(60 / max_per_minute, retry-after)."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_per_minute=max_per_minute)
    assert asyncio.run(retry.call(failing([overloaded(after)]), deadline=FAR)) == "ok"
    assert clock.sleeps == [wait]


def test_backoff_doubles_up_to_the_cap():
    """At full jitter the waits grow as base * 2**n and stop at the cap."""
    clock = FakeClock(START)
    retry = retrier(clock, Highest(), max_per_minute=60, base=25.0, cap=120.0)
    errors: list[Exception] = [overloaded() for _ in range(5)]
    assert asyncio.run(retry.call(failing(errors), deadline=FAR)) == "ok"
    assert clock.sleeps == [25.0, 50.0, 100.0, 120.0, 120.0]


def test_on_retry_hears_each_error_and_wait():
    """The callback is told every retried error and how long the wait is, before the sleep."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_per_minute=6)
    first, second = overloaded(), overloaded(12.0)
    heard: list[tuple[ModelError, float, int]] = []
    asyncio.run(
        retry.call(
            failing([first, second]),
            deadline=FAR,
            on_retry=lambda error, wait: heard.append((error, wait, len(clock.sleeps))),
        )
    )
    assert heard == [(first, 10.0, 0), (second, 12.0, 1)]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_non_retryable_error_raises_at_once(status):
    """A request the server refuses for good is not retried and nothing sleeps."""
    clock = FakeClock(START)
    retry = retrier(clock)
    error = ModelError("bad request", status=status, retryable=False)
    with pytest.raises(ModelError) as raised:
        asyncio.run(retry.call(failing([error]), deadline=FAR))
    assert raised.value is error
    assert clock.sleeps == []
    assert retry.attempts == 1


def test_other_exceptions_are_not_retried():
    """Only ModelError is retried; anything else propagates as it is."""
    clock = FakeClock(START)
    retry = retrier(clock)
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(retry.call(failing([ValueError("boom")]), deadline=FAR))
    assert clock.sleeps == []


def test_gives_up_when_total_waiting_would_pass_max_wait():
    """The retry whose wait would take the total past max_wait is not made."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_per_minute=6, max_wait=25.0)
    errors: list[Exception] = [overloaded() for _ in range(5)]
    with pytest.raises(ModelError) as raised:
        asyncio.run(retry.call(failing(errors), deadline=FAR))
    assert str(raised.value) == "overloaded (gave up after waiting 20 s in all)"
    assert raised.value.status == 529
    assert clock.sleeps == [10.0, 10.0]
    assert retry.attempts == 3


def test_max_wait_counts_across_calls():
    """The waiting allowance is for the whole run, not per request."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_per_minute=6, max_wait=15.0)
    assert asyncio.run(retry.call(failing([overloaded()]), deadline=FAR)) == "ok"
    with pytest.raises(ModelError, match=r"gave up after waiting 10 s in all"):
        asyncio.run(retry.call(failing([overloaded()]), deadline=FAR))
    assert clock.sleeps == [10.0]


def test_retry_after_beyond_max_wait_gives_up_without_sleeping():
    """A server asking for more than the allowance is not waited for at all."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_wait=900.0)
    with pytest.raises(ModelError, match=r"gave up after waiting 0 s in all"):
        asyncio.run(retry.call(failing([overloaded(3600.0)]), deadline=FAR))
    assert clock.sleeps == []


def test_respects_the_run_deadline():
    """No retry is made whose wait would end after the run's deadline."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_per_minute=6)
    with pytest.raises(ModelError) as raised:
        asyncio.run(retry.call(failing([overloaded(), overloaded()]), deadline=START + 15.0))
    assert str(raised.value) == "overloaded (the run's time limit comes before the next retry)"
    assert clock.sleeps == [10.0]


def test_wait_ending_exactly_at_the_deadline_is_made():
    """A wait that ends on the deadline itself still fits."""
    clock = FakeClock(START)
    retry = retrier(clock, Lowest(), max_per_minute=6)
    assert asyncio.run(retry.call(failing([overloaded()]), deadline=START + 10.0)) == "ok"
    assert clock.sleeps == [10.0]


DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
WHEN = float(calendar.timegm((2015, 10, 21, 7, 28, 0)))


@pytest.mark.parametrize(
    ("headers", "now", "expected"),
    [
        ({"retry-after-ms": "1500"}, None, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, None, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, None, 9.0),
        ({"retry-after-ms": "", "retry-after": "9"}, None, 9.0),
        ({"retry-after-ms": "-40"}, None, 0.0),
        ({"retry-after": "30"}, None, 30.0),
        ({"retry-after": "2.5"}, None, 2.5),
        ({"retry-after": "-5"}, None, 0.0),
        ({"retry-after": DATE}, WHEN - 120.0, 120.0),
        ({"retry-after": DATE}, WHEN + 60.0, 0.0),
        ({"retry-after": "whenever you like"}, WHEN, None),
        ({"retry-after": "Wed, 99 Foo 2015 99:99:99 GMT"}, WHEN, None),
        ({"retry-after": ""}, None, None),
        ({"x-other": "5"}, None, None),
        ({}, None, None),
        (None, None, None),
    ],
)
def test_retry_after_parses_what_servers_send(headers, now, expected):
    """retry-after-ms wins, then retry-after in seconds or as an HTTP date; garbage is None."""
    assert retry_after(headers, now=now) == expected
