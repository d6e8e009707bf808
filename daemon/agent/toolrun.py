"""Running the tool calls of one assistant message, safely and exactly once.

Every ``tool_use`` gets a ``tool_result`` (the API requires one per call in the next
user message), in order. A mistake by the agent (a bad path, a bad input) is an
error result it can act on; anything else that goes wrong in a tool is also
returned as an error result, logged, and never leaves the run stuck. A write first
records an ``intent`` with the file's fingerprint: after a kill, a write whose file
has changed since was applied already and is not applied again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

import structlog

from daemon.agent import tools
from daemon.agent.gating import Gates
from daemon.agent.outcome import Ending, Outcome, finding_json
from daemon.agent.paths import split
from daemon.agent.resume import State
from daemon.agent.transcript import Transcript
from daemon.agent.workspace import ToolError, Workspace
from daemon.errors import SpeckitdError
from daemon.logs import scrub

if TYPE_CHECKING:
    from daemon.agent.runner import RunSpec

_WRITES: Final = frozenset({"create", "str_replace", "insert"})

log = structlog.get_logger("speckitd.agent")


class _GatesBrokenError(Exception):
    """The gates could not run: not the agent's doing, so the run ends."""


class ToolRunner:
    """Executes tool calls against the workspace and the gates, recording each."""

    def __init__(self, workspace: Workspace, gates: Gates, transcript: Transcript) -> None:
        self._workspace = workspace
        self._gates = gates
        self._transcript = transcript

    async def run_all(
        self, spec: RunSpec, state: State, uses: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The tool_result blocks for ``uses``, in order (empty if the run ended)."""
        blocks: list[dict[str, Any]] = []
        for use in uses:
            result = state.results.get(use["id"])
            if result is None:
                result = await self._one(spec, state, use)
                if state.outcome is not None:
                    return []
            blocks.append(result)
        return blocks

    async def _one(self, spec: RunSpec, state: State, use: dict[str, Any]) -> dict[str, Any]:
        name, data = str(use.get("name")), use.get("input")
        record: dict[str, Any] = {"event": "tool", "id": use["id"], "name": name, "input": data}
        try:
            text = await self._dispatch(spec, state, name, data, record=record)
            error = False
        except (ToolError, tools.BadInputError) as problem:
            text, error = str(problem), True
        except _GatesBrokenError as problem:
            state.outcome = Outcome(Ending.FAILED, detail=str(problem), missing=str(problem))
            return {}
        except Exception as problem:
            log.exception("agent.tool_crashed", task=spec.task_id, tool=name)
            text, error = f"the tool failed: {scrub(f'{type(problem).__name__}: {problem}')}", True
        if state.outcome is not None:
            return {}
        result = {"type": "tool_result", "tool_use_id": use["id"], "content": tools.clip(text)}
        if error or record.get("gates", {}).get("passed") is False:
            result["is_error"] = True
        record["result"] = result
        clean = self._transcript.append(record)
        state.written.extend(record.get("written", []))
        log.info("agent.tool", task=spec.task_id, tool=name, error=bool(result.get("is_error")))
        return dict(clean["result"])

    async def _dispatch(
        self, spec: RunSpec, state: State, name: str, data: object, *, record: dict[str, Any]
    ) -> str:
        if not isinstance(data, dict):
            raise ToolError("the tool input must be a JSON object")
        if name == tools.EDITOR:
            return await self._edit(spec, state, data, record)
        if name == tools.SEARCH and "search_code" in spec.abilities:
            pattern, glob = data.get("pattern"), data.get("path_glob")
            if not isinstance(pattern, str) or not isinstance(glob, str | None):
                raise ToolError("search_code needs a string 'pattern' and an optional 'path_glob'")
            return await asyncio.to_thread(self._workspace.search, pattern, glob)
        if name == tools.CHECKS and "run_checks" in spec.abilities:
            try:
                report = await asyncio.to_thread(self._gates.check)
            except (SpeckitdError, OSError) as problem:
                raise ToolError(f"the gates could not run: {problem}") from None
            return report.render()
        if name in tools.ENDING:
            return await self._end(spec, state, name, data, record)
        raise ToolError(f"unknown tool {name!r}")

    async def _edit(
        self, spec: RunSpec, state: State, data: dict[str, Any], record: dict[str, Any]
    ) -> str:
        use_id = str(record["id"])
        command = data.get("command")
        if command not in _WRITES:
            return await asyncio.to_thread(self._workspace.edit, data)
        if "edit" not in spec.abilities:
            raise ToolError("this agent may not edit files")
        path = data.get("path")
        if not isinstance(path, str):
            raise ToolError("'path' must be a string")
        shown = "/".join(split(path))
        before = self._workspace.fingerprint(shown)
        intent = state.intents.get(use_id)
        if intent is not None and intent["before"] != before:
            # Killed after the write and before its result was saved: it happened.
            record["written"] = [shown]
            return f"{command} on {shown} was applied before a restart"
        self._transcript.append({"event": "intent", "id": use_id, "path": shown, "before": before})
        answer = await asyncio.to_thread(self._workspace.edit, data)
        record["written"] = [shown]
        return answer

    async def _end(
        self, spec: RunSpec, state: State, name: str, data: dict[str, Any], record: dict[str, Any]
    ) -> str:
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
        try:
            report = await asyncio.to_thread(self._gates.check)
        except (SpeckitdError, OSError) as problem:
            raise _GatesBrokenError(f"the gates could not run: {problem}") from None
        findings = report.findings
        record["gates"] = {"passed": report.passed, "findings": [finding_json(f) for f in findings]}
        state.findings = findings
        if report.passed:
            state.outcome = Outcome(
                Ending.COMPLETED,
                summary=ending.summary,
                assumptions=ending.assumptions,
                spec_refs=ending.spec_refs,
                findings=findings,
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
                findings=findings,
                missing="the work does not pass the gates",
            )
            return ""
        left = spec.repair_rounds - state.rounds
        return (
            f"{report.render()}\n\nFix every finding above, then call complete_task again "
            f"({left} repair round{'s' if left != 1 else ''} left after this one)."
        )
