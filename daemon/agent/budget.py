"""A run's budget (DESIGN §5): turns, tokens, dollars and wall time, checked before each request.

Pure. A request is refused when its worst case could cross a limit: the prompt it
will send, priced as an uncached write, plus ``max_tokens`` of output. So a run
stops at the last request that fits and never spends past a limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from daemon.agent.outcome import Usage

# English and code run ~4 bytes per token; 3 overestimates them (CJK text is ~3).
BYTES_PER_TOKEN = 3
# What the API adds to every request with tools: the text editor tool's own definition
# (~700 tokens) and the tool-use system prompt (~350), with a margin.
REQUEST_OVERHEAD_TOKENS = 1500


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, input: int, output: int, cache_read: int, cache_write: int) -> float:  # noqa: A002 - the API's own usage names
        """The price of one request's usage."""
        return (
            input * self.input
            + output * self.output
            + cache_read * self.cache_read
            + cache_write * self.cache_write
        ) / 1_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """What one run may spend."""

    max_turns: int
    max_tokens: int
    max_cost_usd: float
    max_seconds: float


def estimate_tokens(prompt_bytes: int) -> int:
    """An upper estimate of the tokens of a request of ``prompt_bytes`` bytes of JSON."""
    return math.ceil(prompt_bytes / BYTES_PER_TOKEN) + REQUEST_OVERHEAD_TOKENS


@dataclass(frozen=True, slots=True)
class Budget:
    """What a run has spent, against its limits."""

    limits: Limits
    prices: Prices
    started: float
    turns: int = 0
    usage: Usage = field(default_factory=Usage)

    def worst_case(self, prompt_tokens: int, max_tokens: int) -> tuple[int, float]:
        """Tokens and dollars the next request could cost at most."""
        price = max(self.prices.input, self.prices.cache_write)
        dollars = (prompt_tokens * price + max_tokens * self.prices.output) / 1_000_000
        return prompt_tokens + max_tokens, dollars

    def exhausted(self, now: float, prompt_tokens: int, max_tokens: int) -> str | None:
        """The limit the next request would break (turns, tokens, dollars, time), or None."""
        if self.turns >= self.limits.max_turns:
            return "turns"
        tokens, dollars = self.worst_case(prompt_tokens, max_tokens)
        if self.usage.total + tokens > self.limits.max_tokens:
            return "tokens"
        if self.usage.cost_usd + dollars > self.limits.max_cost_usd:
            return "dollars"
        if now - self.started >= self.limits.max_seconds:
            return "time"
        return None

    def time_left(self, now: float) -> float:
        """Seconds of wall time the run still has."""
        return self.limits.max_seconds - (now - self.started)

    def spend(self, input: int, output: int, cache_read: int, cache_write: int) -> Budget:  # noqa: A002
        """The budget after one more answered request."""
        cost = self.prices.cost(input, output, cache_read, cache_write)
        used = Usage(input, output, cache_read, cache_write, cost, 1)
        return Budget(self.limits, self.prices, self.started, self.turns + 1, self.usage + used)

    def charge(self, tokens: int, dollars: float) -> Budget:
        """The budget after a request whose usage is unknown (it timed out), at its worst case."""
        used = Usage(input=tokens, cost_usd=dollars)
        return Budget(self.limits, self.prices, self.started, self.turns, self.usage + used)

    def describe(self, limit: str) -> str:
        """A sentence saying which limit stopped the run and what was spent."""
        spent = self.usage
        limits = self.limits
        what = {
            "turns": f"the turn limit ({limits.max_turns})",
            "tokens": f"the token limit ({limits.max_tokens:,})",
            "dollars": f"the cost limit (${limits.max_cost_usd:.2f})",
            "time": f"the time limit ({limits.max_seconds / 60:g} min)",
        }[limit]
        return (
            f"stopped before {what} would be exceeded after {self.turns} turns, "
            f"{spent.total:,} tokens, ${spent.cost_usd:.4f}"
        )
