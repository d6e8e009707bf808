"""The agent loop (DESIGN §5): requests, tools, gates and repair rounds, budgets, resume.

Each answered request is a turn. Before it, the budget is checked against the worst
case the request could cost; during it, transient API faults are waited out by the
:class:`~daemon.agent.retry.Retrier`. Every assistant message, tool result and user
message is written to the transcript before the next step, and a restarted run
rebuilds its conversation from there: tool calls with a saved result never run again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import structlog

from daemon.agent import tools
from daemon.agent.budget import Budget, Limits, Prices, estimate_tokens
from daemon.agent.client import Model, ModelError, Reply
from daemon.agent.gating import GateReport, Gates
from daemon.agent.outcome import Ending, Outcome, finding_json
from daemon.agent.retry import Retrier
from daemon.agent.transcript import Transcript
from daemon.agent.workspace import ToolError, Workspace

MAX_NUDGES: Final = 2
TRUNCATION_GROWTH: Final = 4  # max_tokens may grow to this multiple after cut replies
NUDGE: Final = (
    "You ended your turn without calling a tool. Nobody reads plain replies: continue "
    "the task with the tools, then call complete_task, or request_clarification if the "
    "task cannot be done as specified."
)
_WRITES: Final = frozenset({"create", "str_replace", "insert"})

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


@dataclass(slots=True)
class _State:
    """The conversation and counters, as rebuilt from the transcript."""

    budget: Budget
    messages: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    rounds: int = 0
    nudges: int = 0
    max_tokens: int = 0
    written: list[str] = field(default_factory=list)
    report: GateReport | None = None
    outcome: Outcome | None = None


def _with_rolling_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose last block carries a cache breakpoint (the run so far)."""
    if len(messages) < 2:
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
        self._model = model
        self._workspace = workspace
        self._gates = gates
        self._transcript = transcript
        self._retrier = retrier
        self._clock = clock

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

    def _restore(self, spec: RunSpec) -> _State:
        events = self._transcript.events()
        start = next((e for e in events if e.get("event") == "start"), None)
        if start is None:
            start = self._transcript.append(
                {
                    "event": "start",
                    "task": spec.task_id,
                    "model": spec.model,
                    "started": self._clock(),
                }
            )
            self._transcript.append(
                {"event": "message", "message": {"role": "user", "content": list(spec.context)}}
            )
            events = self._transcript.events()
        state = _State(
            Budget(spec.limits, spec.prices, float(start["started"])),
            max_tokens=spec.max_output_tokens,
        )
        for event in events:
            kind = event.get("event")
            if kind == "message":
                message = event["message"]
                if event.get("stop_reason"):
                    message = {**message, "_stop": event["stop_reason"]}
                state.messages.append(message)
                state.nudges += bool(event.get("nudge"))
            elif kind == "tool":
                state.results[event["id"]] = event["result"]
                state.written.extend(event.get("written", []))
            elif kind == "gates":
                state.rounds += not event["passed"]
            elif kind == "outcome":
                state.outcome = Outcome.from_json(event)
            if kind in {"message", "truncated"} and "usage" in event:
                state.budget = state.budget.spend(**event["usage"])
            if kind == "truncated":
                state.max_tokens = int(event["next_max_tokens"])
        return state

    async def _request(self, spec: RunSpec, state: _State) -> None:
        messages = [{k: v for k, v in m.items() if k != "_stop"} for m in state.messages]
        request: dict[str, Any] = {
            "model": spec.model,
            "max_tokens": state.max_tokens,
            "system": list(spec.system),
            "tools": list(spec.tools),
            "messages": _with_rolling_breakpoint(messages),
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
                findings=state.report.findings if state.report else (),
            )
            return
        deadline = state.budget.started + spec.limits.max_seconds

        def on_retry(error: ModelError, wait: float) -> None:
            log.warning(
                "agent.retry", task=spec.task_id, status=error.status, wait_s=round(wait, 1)
            )

        try:
            reply = await self._retrier.call(
                lambda: self._model.create(request, timeout=spec.request_timeout),
                deadline=deadline,
                on_retry=on_retry,
            )
        except ModelError as error:
            state.outcome = Outcome(Ending.FAILED, detail=str(error), missing=str(error))
            return
        self._record_reply(spec, state, reply)

    def _record_reply(self, spec: RunSpec, state: _State, reply: Reply) -> None:
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

    async def _act(self, spec: RunSpec, state: _State, message: Mapping[str, Any]) -> None:
        stop = message.get("_stop")
        uses = [b for b in message["content"] if b.get("type") == "tool_use"]
        if stop == "refusal":
            state.outcome = Outcome(
                Ending.REFUSED,
                detail="the model declined the task",
                missing="the model declined to implement the task",
            )
        elif stop == "model_context_window_exceeded":
            state.outcome = Outcome(
                Ending.FAILED,
                detail="the context window is full",
                missing="the conversation outgrew the model's context window",
            )
        elif stop not in {"tool_use", "end_turn", "stop_sequence"}:
            state.outcome = Outcome(
                Ending.FAILED,
                detail=f"unknown stop_reason {stop!r}",
                missing=f"the model stopped for an unknown reason ({stop})",
            )
        elif uses:
            await self._run_tools(spec, state, uses)
        elif state.nudges >= MAX_NUDGES:
            state.outcome = Outcome(
                Ending.FAILED,
                detail="the model kept ending its turn "
                "without calling complete_task or request_clarification",
                missing="the model stopped without finishing the task",
            )
        else:
            self._transcript.append(
                {
                    "event": "message",
                    "nudge": True,
                    "message": {"role": "user", "content": [{"type": "text", "text": NUDGE}]},
                }
            )
            state.messages.append({"role": "user", "content": [{"type": "text", "text": NUDGE}]})
            state.nudges += 1

    async def _run_tools(self, spec: RunSpec, state: _State, uses: list[dict[str, Any]]) -> None:
        blocks: list[dict[str, Any]] = []
        for use in uses:
            result = state.results.get(use["id"])
            if result is None:
                result = await self._tool(spec, state, use)
                if state.outcome is not None:
                    return
            blocks.append(result)
        self._transcript.append(
            {"event": "message", "message": {"role": "user", "content": blocks}}
        )
        state.messages.append({"role": "user", "content": blocks})

    async def _tool(self, spec: RunSpec, state: _State, use: dict[str, Any]) -> dict[str, Any]:
        name, data = use.get("name"), use.get("input")
        written: list[str] = []
        error = False
        try:
            text = await self._dispatch(spec, state, str(name), data, written)
        except (ToolError, tools.BadInputError) as problem:
            text, error = str(problem), True
        if state.outcome is not None:
            return {}
        result = {
            "type": "tool_result",
            "tool_use_id": use["id"],
            "content": tools.clip(text),
            **({"is_error": True} if error else {}),
        }
        if name == tools.COMPLETE and not error:
            result["is_error"] = True  # reached only when the gates failed
        clean = self._transcript.append(
            {
                "event": "tool",
                "id": use["id"],
                "name": name,
                "input": data,
                "result": result,
                "written": written,
            }
        )
        state.written.extend(written)
        log.info("agent.tool", task=spec.task_id, tool=name, error=bool(result.get("is_error")))
        return dict(clean["result"])

    async def _dispatch(
        self, spec: RunSpec, state: _State, name: str, data: object, written: list[str]
    ) -> str:
        if not isinstance(data, dict):
            raise ToolError("the tool input must be a JSON object")
        if name == tools.EDITOR:
            command = data.get("command")
            if command in _WRITES and "edit" not in spec.abilities:
                raise ToolError("this agent may not edit files")
            answer = await asyncio.to_thread(self._workspace.edit, data)
            if command in _WRITES:
                written.append(str(data.get("path", "")).strip("/"))
            return answer
        if name == tools.SEARCH and "search_code" in spec.abilities:
            pattern = data.get("pattern")
            glob = data.get("path_glob")
            if not isinstance(pattern, str) or not isinstance(glob, str | None):
                raise ToolError("search_code needs a string 'pattern' and an optional 'path_glob'")
            return await asyncio.to_thread(self._workspace.search, pattern, glob)
        if name == tools.CHECKS and "run_checks" in spec.abilities:
            report = await asyncio.to_thread(self._gates.check)
            return report.render()
        if name in tools.ENDING:
            return await self._end(spec, state, name, data)
        raise ToolError(f"unknown tool {name!r}")

    async def _end(self, spec: RunSpec, state: _State, name: str, data: dict[str, Any]) -> str:
        ending = tools.parse_end(name, data)
        if isinstance(ending, tools.Clarify):
            state.outcome = Outcome(
                Ending.CLARIFICATION,
                detail="the agent asked for clarification",
                missing=ending.missing,
                consulted=ending.consulted,
                questions=ending.questions,
            )
            return ""
        report = await asyncio.to_thread(self._gates.check)
        state.report = report
        self._transcript.append(
            {
                "event": "gates",
                "passed": report.passed,
                "findings": [finding_json(f) for f in report.findings],
            }
        )
        if report.passed:
            state.outcome = Outcome(
                Ending.COMPLETED,
                summary=ending.summary,
                assumptions=ending.assumptions,
                spec_refs=ending.spec_refs,
                findings=report.findings,
            )
            return ""
        state.rounds += 1
        if state.rounds > spec.repair_rounds:
            state.outcome = Outcome(
                Ending.GATES_FAILED,
                detail=f"the gates failed after {spec.repair_rounds} repair rounds",
                summary=ending.summary,
                assumptions=ending.assumptions,
                spec_refs=ending.spec_refs,
                findings=report.findings,
                missing="the work does not pass the gates",
            )
            return ""
        left = spec.repair_rounds - state.rounds
        return (
            f"{report.render()}\n\nFix every finding above, then call complete_task again "
            f"({left} repair round{'s' if left != 1 else ''} left after this one)."
        )
