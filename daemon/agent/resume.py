"""A run's state rebuilt from its transcript events. Pure.

Events (one JSON object per line, see :mod:`daemon.agent.transcript`):

- ``start``: the task, model, start time and the first user message (the context);
- ``message``: a message of the conversation; an assistant one carries its turn,
  usage and stop reason; a user one is tool results or a nudge;
- ``truncated``: a reply cut at ``max_tokens``, billed but not part of the conversation;
- ``charged``: a request that timed out, charged at its worst case;
- ``intent``: a write tool call about to run, with the file's fingerprint before it;
- ``tool``: a tool call's result (and, for ``complete_task``, the gate report);
- ``outcome``: how the run ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.agent.budget import Budget, Limits, Prices
from daemon.agent.outcome import Outcome, finding_from
from daemon.gates.model import LintFinding


@dataclass(slots=True)
class State:
    """The conversation, counters and budget of a run."""

    budget: Budget
    max_tokens: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    rounds: int = 0
    nudges: int = 0
    written: list[str] = field(default_factory=list)
    findings: tuple[LintFinding, ...] = ()
    outcome: Outcome | None = None
    started: bool = False


def restore(
    events: Iterable[Mapping[str, Any]], *, limits: Limits, prices: Prices, max_tokens: int
) -> State:
    """The state after ``events``; ``started`` is False when the run never began."""
    state = State(Budget(limits, prices, 0.0), max_tokens)
    for event in events:
        _apply(state, event, limits, prices)
    return state


def _apply(state: State, event: Mapping[str, Any], limits: Limits, prices: Prices) -> None:
    kind = event.get("event")
    if kind == "start":
        state.started = True
        state.budget = Budget(limits, prices, float(event["started"]))
        state.messages.append({"role": "user", "content": list(event["context"])})
    elif kind == "message":
        _message(state, event)
    elif kind == "intent":
        state.intents[event["id"]] = dict(event)
    elif kind == "tool":
        state.results[event["id"]] = event["result"]
        state.written.extend(event.get("written", []))
        gates = event.get("gates")
        if gates is not None:
            state.findings = tuple(finding_from(f) for f in gates["findings"])
            state.rounds += not gates["passed"]
    elif kind == "outcome":
        state.outcome = Outcome.from_json(event)
    elif kind == "charged":
        state.budget = state.budget.charge(int(event["tokens"]), float(event["dollars"]))
    if kind in {"message", "truncated"} and "usage" in event:
        state.budget = state.budget.spend(**event["usage"])
    if kind == "truncated":
        state.max_tokens = int(event["next_max_tokens"])


def _message(state: State, event: Mapping[str, Any]) -> None:
    message = dict(event["message"])
    if event.get("replace"):
        state.messages.pop()
    if event.get("stop_reason"):
        message["_stop"] = event["stop_reason"]
    state.messages.append(message)
    if event.get("nudge"):
        state.nudges += 1
    elif message["role"] == "user":
        state.nudges = 0  # only nudges in a row count
