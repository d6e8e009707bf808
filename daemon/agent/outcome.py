"""How a run ended, and what it used: the values the runner hands the publisher. Pure."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from daemon.gates.model import LintFinding, Severity


class Ending(enum.StrEnum):
    """The kinds of end a run can have."""

    COMPLETED = "completed"  # complete_task, and the gates passed
    CLARIFICATION = "clarification"  # request_clarification: a precise question
    GATES_FAILED = "gates_failed"  # the gates still failed after the repair rounds
    BUDGET = "budget_exhausted"  # a turn, token, dollar or time limit was reached
    REFUSED = "refused"  # the model declined (stop_reason "refusal")
    FAILED = "failed"  # the API or the model could not go on (reason in ``detail``)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens used and what they cost, summed over requests."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_usd: float = 0.0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
            self.cost_usd + other.cost_usd,
            self.requests + other.requests,
        )

    @property
    def prompt(self) -> int:
        """Every input token, cached or not."""
        return self.input + self.cache_read + self.cache_write

    @property
    def total(self) -> int:
        """Input of every kind plus output."""
        return self.prompt + self.output


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of a run.

    ``summary``/``assumptions``/``spec_refs`` come from ``complete_task``;
    ``missing``/``consulted``/``questions`` from ``request_clarification`` (and a
    budget or failure end says in ``missing`` what stopped it); ``findings`` is the
    last gate report; ``limit`` names the budget that ran out; ``files`` the paths
    the agent wrote.
    """

    ending: Ending
    detail: str = ""
    summary: str = ""
    assumptions: tuple[str, ...] = ()
    spec_refs: tuple[str, ...] = ()
    missing: str = ""
    consulted: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    findings: tuple[LintFinding, ...] = ()
    limit: str | None = None
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    files: tuple[str, ...] = ()

    @property
    def publishable(self) -> bool:
        """Whether the work may become a pull request (else: a clarification issue)."""
        return self.ending is Ending.COMPLETED

    def to_json(self) -> dict[str, Any]:
        """The outcome as JSON values (the transcript's last event)."""
        return {
            "ending": self.ending.value,
            "detail": self.detail,
            "summary": self.summary,
            "assumptions": list(self.assumptions),
            "spec_refs": list(self.spec_refs),
            "missing": self.missing,
            "consulted": list(self.consulted),
            "questions": list(self.questions),
            "findings": [finding_json(f) for f in self.findings],
            "limit": self.limit,
            "turns": self.turns,
            "usage": asdict(self.usage),
            "files": list(self.files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        """An outcome read back from :meth:`to_json`."""
        return cls(
            Ending(data["ending"]),
            detail=data.get("detail", ""),
            summary=data.get("summary", ""),
            assumptions=tuple(data.get("assumptions", ())),
            spec_refs=tuple(data.get("spec_refs", ())),
            missing=data.get("missing", ""),
            consulted=tuple(data.get("consulted", ())),
            questions=tuple(data.get("questions", ())),
            findings=tuple(finding_from(f) for f in data.get("findings", ())),
            limit=data.get("limit"),
            turns=int(data.get("turns", 0)),
            usage=Usage(**data.get("usage", {})),
            files=tuple(data.get("files", ())),
        )


def finding_json(finding: LintFinding) -> dict[str, Any]:
    """A lint finding as JSON values."""
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "path": finding.path,
        "line": finding.line,
        "message": finding.message,
        "hint": finding.hint,
    }


def finding_from(data: Mapping[str, Any]) -> LintFinding:
    """A lint finding read back from :func:`finding_json`."""
    return LintFinding(
        data["rule"],
        Severity(data["severity"]),
        data["path"],
        int(data["line"]),
        data["message"],
        data.get("hint", ""),
    )
