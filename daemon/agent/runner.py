"""The agent loop (DESIGN §5): requests, tools, gates and repair rounds, budgets, resume.

Each answered request is a turn. Before it, the budget is checked against the worst
case the request could cost; during it, transient API faults are waited out by the
:class:`~daemon.agent.retry.Retrier`. Every step is written to the transcript before
the next one, and a restarted run rebuilds its conversation from there
(:mod:`daemon.agent.resume`): a tool call with a saved result never runs again, and a
write whose file already changed since its ``intent`` is not applied twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import structlog

from daemon.agent.budget import Limits, Prices, estimate_tokens
from daemon.agent.gating import Gates
from daemon.agent.model import Model, ModelError, Reply
from daemon.agent.outcome import Ending, Outcome
from daemon.agent.resume import State, restore
from daemon.agent.retry import Retrier
from daemon.agent.toolrun import ToolRunner
from daemon.agent.transcript import Transcript
from daemon.agent.workspace import Workspace

MAX_NUDGES: Final = 2
TRUNCATION_GROWTH: Final = 4  # max_tokens may grow to this multiple after cut replies
NUDGE: Final = (
    "You ended your turn without calling a tool. Nobody reads plain replies: continue "
    "the task with the tools, then call complete_task, or request_clarification if the "
    "task cannot be done as specified."
)
_STOPS: Final = {
    "refusal": (Ending.REFUSED, "the model declined to implement the task"),
    "model_context_window_exceeded": (
        Ending.FAILED,
        "the conversation outgrew the model's context window",
    ),
}

log = structlog.get_logger("speckitd.agent")


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything one run sends and is held to."""

    task_id: str
    model: str
    system: tuple[dict[str, Any], ...]
    context: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...]
    abilities: frozenset[str]
    limits: Limits
    prices: Prices
    max_output_tokens: int = 8192
    repair_rounds: int = 2
    request_timeout: float = 300.0


def with_rolling_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose last block carries a cache breakpoint (the run so far)."""
    if len(messages) < 2 or not messages[-1]["content"]:
        return messages
    last = dict(messages[-1])
    content = list(last["content"])
    content[-1] = {**content[-1], "cache_control": {"type": "ephemeral"}}
    last["content"] = content
    return [*messages[:-1], last]


class Runner:
    """Runs one task's agent in one worktree until it completes, asks, or runs out."""

    def __init__(
        self,
        model: Model,
        workspace: Workspace,
        gates: Gates,
        transcript: Transcript,
        *,
        retrier: Retrier,
        clock: Callable[[], float],
    ) -> None:
        """``clock`` is wall time (seconds): a resumed run counts time from its first start."""
        self._model = model
        self._transcript = transcript
        self._retrier = retrier
        self._clock = clock
        self._tools = ToolRunner(workspace, gates, transcript)

    async def run(self, spec: RunSpec) -> Outcome:
        """Run (or resume) the agent to an outcome, which is also written to the transcript."""
        state = self._restore(spec)
        if state.outcome is not None:
            return state.outcome  # the run had ended before a restart
        ended: Outcome | None = None
        while ended is None:
            last = state.messages[-1]
            if last["role"] == "assistant" and last.get("_stop") != "pause_turn":
                await self._act(spec, state, last)
            else:
                await self._request(spec, state)
            ended = state.outcome
        outcome = replace(
            ended,
            turns=state.budget.turns,
            usage=state.budget.usage,
            files=tuple(dict.fromkeys(state.written)),
            findings=ended.findings or state.findings,
        )
        self._transcript.append({"event": "outcome", **outcome.to_json()})
        log.info(
            "agent.outcome",
            task=spec.task_id,
            ending=outcome.ending.value,
            turns=outcome.turns,
            cost_usd=round(outcome.usage.cost_usd, 4),
        )
        return outcome

    def _restore(self, spec: RunSpec) -> State:
        events = self._transcript.events()
        state = restore(
            events, limits=spec.limits, prices=spec.prices, max_tokens=spec.max_output_tokens
        )
        if not state.started:
            # One event holds the start and the context: a kill can't leave half of it.
            event = self._transcript.append(
                {
                    "event": "start",
                    "task": spec.task_id,
                    "model": spec.model,
                    "started": self._clock(),
                    "context": list(spec.context),
                }
            )
            state = restore(
                [event], limits=spec.limits, prices=spec.prices, max_tokens=spec.max_output_tokens
            )
        return state

    async def _request(self, spec: RunSpec, state: State) -> None:
        messages = [{k: v for k, v in m.items() if k != "_stop"} for m in state.messages]
        request: dict[str, Any] = {
            "model": spec.model,
            "max_tokens": state.max_tokens,
            "system": list(spec.system),
            "tools": list(spec.tools),
            "messages": with_rolling_breakpoint(messages),
        }
        prompt = estimate_tokens(len(json.dumps(request, ensure_ascii=False).encode()))
        limit = state.budget.exhausted(self._clock(), prompt, state.max_tokens)
        if limit is not None:
            tokens, dollars = state.budget.worst_case(prompt, state.max_tokens)
            said = state.budget.describe(limit)
            state.outcome = Outcome(
                Ending.BUDGET,
                detail=f"{said}; the next request could have used up to {tokens:,} tokens, "
                f"${dollars:.6f}",
                missing=said,
                limit=limit,
            )
            return

        def on_retry(error: ModelError, wait: float) -> None:
            log.warning("agent.retry", task=spec.task_id, status=error.status, wait_s=round(wait))
            if error.maybe_billed:  # keep the budget a bound: charge the worst case
                tokens, dollars = state.budget.worst_case(prompt, state.max_tokens)
                self._transcript.append({"event": "charged", "tokens": tokens, "dollars": dollars})
                state.budget = state.budget.charge(tokens, dollars)

        try:
            reply = await self._retrier.call(
                lambda: self._model.create(request, timeout=spec.request_timeout),
                deadline=state.budget.started + spec.limits.max_seconds,
                on_retry=on_retry,
            )
        except ModelError as error:
            state.outcome = Outcome(Ending.FAILED, detail=str(error), missing=str(error))
            return
        self._record_reply(spec, state, reply)

    def _record_reply(self, spec: RunSpec, state: State, reply: Reply) -> None:
        usage = {
            key: reply.usage.get(key, 0) for key in ("input", "output", "cache_read", "cache_write")
        }
        state.budget = state.budget.spend(**usage)
        turn = state.budget.turns
        log.info(
            "agent.turn",
            task=spec.task_id,
            turn=turn,
            stop_reason=reply.stop_reason,
            request_id=reply.request_id,
            **usage,
        )
        if reply.stop_reason == "max_tokens":
            # A cut reply may end in a half-written tool call: never run it; ask again
            # with room to finish.
            ceiling = spec.max_output_tokens * TRUNCATION_GROWTH
            if state.max_tokens >= ceiling:
                state.outcome = Outcome(
                    Ending.FAILED,
                    detail=f"the reply was cut at max_tokens ({ceiling})",
                    missing="the model's replies exceed the output limit",
                )
                return
            state.max_tokens = min(ceiling, state.max_tokens * 2)
            self._transcript.append(
                {
                    "event": "truncated",
                    "turn": turn,
                    "usage": usage,
                    "content": list(reply.content),
                    "next_max_tokens": state.max_tokens,
                }
            )
            return
        if not reply.content:
            # The API refuses an empty assistant message in the history: keep it out,
            # and treat it as a turn that said nothing.
            self._transcript.append(
                {
                    "event": "truncated",
                    "turn": turn,
                    "usage": usage,
                    "content": [],
                    "next_max_tokens": state.max_tokens,
                }
            )
            self._nudge(state)
            return
        message = {"role": "assistant", "content": list(reply.content)}
        self._transcript.append(
            {
                "event": "message",
                "turn": turn,
                "usage": usage,
                "stop_reason": reply.stop_reason,
                "message": message,
            }
        )
        state.messages.append({**message, "_stop": reply.stop_reason})

    async def _act(self, spec: RunSpec, state: State, message: dict[str, Any]) -> None:
        stop = str(message.get("_stop"))
        uses = [b for b in message["content"] if b.get("type") == "tool_use"]
        if stop in _STOPS:
            ending, missing = _STOPS[stop]
            state.outcome = Outcome(ending, detail=f"stop_reason {stop}", missing=missing)
        elif stop not in {"tool_use", "end_turn", "stop_sequence"}:
            state.outcome = Outcome(
                Ending.FAILED,
                detail=f"unknown stop_reason {stop!r}",
                missing=f"the model stopped for an unknown reason ({stop})",
            )
        elif uses:
            blocks = await self._tools.run_all(spec, state, uses)
            if state.outcome is None:
                self._transcript.append(
                    {"event": "message", "message": {"role": "user", "content": blocks}}
                )
                state.messages.append({"role": "user", "content": blocks})
                state.nudges = 0
        else:
            self._nudge(state)

    def _nudge(self, state: State) -> None:
        if state.nudges >= MAX_NUDGES:
            state.outcome = Outcome(
                Ending.FAILED,
                detail="the model kept ending its turn "
                "without calling complete_task or request_clarification",
                missing="the model stopped without finishing the task",
            )
            return
        nudge = {"role": "user", "content": [{"type": "text", "text": NUDGE}]}
        event: dict[str, Any] = {"event": "message", "nudge": True, "message": nudge}
        if state.messages[-1]["role"] == "user":
            # After a dropped empty reply two user messages would follow each other: the
            # nudge joins the last one instead (``replace`` tells the resume so).
            last = state.messages.pop()
            nudge = {"role": "user", "content": [*last["content"], *nudge["content"]]}
            event.update(message=nudge, replace=True)
        self._transcript.append(event)
        state.messages.append(nudge)
        state.nudges += 1
