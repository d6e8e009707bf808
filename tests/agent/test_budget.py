"""A run's budget: prices, the limit the next request would break, spending, and the reason."""

from __future__ import annotations

import pytest

from daemon.agent.budget import REQUEST_OVERHEAD_TOKENS, Budget, Limits, Prices, estimate_tokens
from daemon.agent.outcome import Usage

# Binary-exact prices: the worst case prices a prompt at the cache-write rate (2.5).
PRICES = Prices(input=2.0, output=8.0, cache_write=2.5, cache_read=0.25)
LIMITS = Limits(max_turns=3, max_tokens=10_000, max_cost_usd=0.05, max_seconds=600.0)
START = 1_000.0


def budget(turns: int = 0, usage: Usage | None = None) -> Budget:
    return Budget(LIMITS, PRICES, START, turns, usage or Usage())


def test_cost_prices_each_kind_of_token():
    """Input, output, cache reads and cache writes each cost their own rate per million."""
    # 1000 * 2 + 500 * 8 + 2000 * 0.25 + 400 * 2.5 = 7500 per million
    assert PRICES.cost(input=1000, output=500, cache_read=2000, cache_write=400) == 0.0075
    assert PRICES.cost(0, 0, 0, 0) == 0.0
    assert PRICES.cost(1_000_000, 0, 0, 0) == 2.0
    assert PRICES.cost(0, 1_000_000, 0, 0) == 8.0


def test_worst_case_prices_the_prompt_as_a_cache_write():
    """The next request's worst case: prompt plus max output, prompt at the dearer input rate."""
    assert budget().worst_case(4000, 1000) == (5000, (4000 * 2.5 + 1000 * 8.0) / 1_000_000)


@pytest.mark.parametrize(
    ("turns", "usage", "prompt", "max_tokens", "now", "expected"),
    [
        (0, None, 100, 100, START, None),
        (2, None, 100, 100, START, None),
        (3, None, 0, 0, START, "turns"),
        (4, None, 0, 0, START, "turns"),
        # tokens: 1000 spent + 5000 + 4000 is exactly the limit; one more crosses it
        (1, Usage(input=600, output=400), 5000, 4000, START, None),
        (1, Usage(input=600, output=400), 5001, 4000, START, "tokens"),
        (0, Usage(cache_read=10_000), 0, 1, START, "tokens"),
        # dollars: 0.01 spent + (1000 * 2.5 + 5000 * 8) / 1e6 = 0.0525 > 0.05
        (1, Usage(cost_usd=0.01), 1000, 5000, START, "dollars"),
        # (4000 * 2.5 + 5000 * 8) / 1e6 is exactly 0.05; one prompt token more crosses
        (0, None, 4000, 5000, START, None),
        (0, None, 4001, 5000, START, "dollars"),
        (0, None, 100, 100, START + 599.999, None),
        (0, None, 100, 100, START + 600.0, "time"),
        (0, None, 100, 100, START + 5000.0, "time"),
    ],
)
def test_exhausted_names_the_limit_the_next_request_would_break(
    turns, usage, prompt, max_tokens, now, expected
):
    """Turns at the limit, a worst case crossing tokens or dollars, or time up; else None."""
    assert budget(turns, usage).exhausted(now, prompt, max_tokens) == expected


def test_turns_are_checked_before_anything_else():
    """At the turn limit, turns is named even when every other limit is also broken."""
    spent = Usage(input=20_000, cost_usd=5.0)
    assert budget(3, spent).exhausted(START + 10_000, 10_000, 10_000) == "turns"


def test_spend_accumulates_usage_and_turns():
    """Each answered request adds its tokens, its cost and one turn; the old budget stays."""
    start = budget()
    once = start.spend(input=1000, output=500, cache_read=2000, cache_write=400)
    twice = once.spend(input=10, output=20, cache_read=0, cache_write=0)
    assert start.turns == 0
    assert start.usage == Usage()
    assert once.turns == 1
    assert once.usage == Usage(1000, 500, 2000, 400, 0.0075, 1)
    assert twice.turns == 2
    assert twice.usage == Usage(1010, 520, 2000, 400, 0.0075 + PRICES.cost(10, 20, 0, 0), 2)
    assert twice.usage.total == 3930
    assert (twice.limits, twice.prices, twice.started) == (LIMITS, PRICES, START)


def test_time_left_counts_from_the_start():
    """The wall time left is the limit minus the time since the run started."""
    assert budget().time_left(START + 150.0) == 450.0
    assert budget().time_left(START + 700.0) == -100.0


@pytest.mark.parametrize(
    ("limit", "phrase"),
    [
        ("turns", "the turn limit (3)"),
        ("tokens", "the token limit (10,000)"),
        ("dollars", "the cost limit ($0.05)"),
        ("time", "the time limit (10 min)"),
    ],
)
def test_describe_names_the_limit_and_the_spending(limit, phrase):
    """The sentence names the limit and what the run spent."""
    spent = budget().spend(input=1000, output=500, cache_read=2000, cache_write=400)
    assert spent.describe(limit) == (
        f"stopped before {phrase} would be exceeded after 1 turns, 3,900 tokens, $0.0075"
    )


@pytest.mark.parametrize(("size", "tokens"), [(0, 0), (1, 1), (3, 1), (4, 2), (3000, 1000)])
def test_estimate_tokens_rounds_up(size, tokens):
    """A request's estimate is its bytes over three, rounded up, plus the API's overhead."""
    assert estimate_tokens(size) == tokens + REQUEST_OVERHEAD_TOKENS
