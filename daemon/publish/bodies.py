"""Pull request and clarification issue texts (DESIGN §4, §7). Pure.

What reviewers read: the task, who approved it and where, the spec sections (linked),
the agent's summary and assumptions, the gate results, usage and cost, where the
transcript is, and the hidden marker that lets the daemon find the thing again.
Everything the agent wrote is shown as code (:mod:`daemon.publish.neutralize`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from daemon.agent.outcome import Ending, Outcome
from daemon.gates.model import RULES, LintFinding, Severity
from daemon.naming import marker
from daemon.publish.neutralize import block, inline, verbatim


@dataclass(frozen=True, slots=True)
class SpecLink:
    """A spec section the task references: its label and where it is."""

    label: str
    path: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Job:
    """The task being published and where it came from."""

    repo: str
    task_id: str
    key: str
    title: str
    digest: str
    task_path: str
    task_line: int
    approving_commit: str
    approver: str
    refs: tuple[SpecLink, ...] = ()
    blob_url: str = ""  # e.g. https://github.com/o/r/blob/<commit>/ ; "" shows plain paths
    transcript: str = ""
    rules: frozenset[str] = frozenset()


def _where(job: Job, path: str, line: int) -> str:
    # Paths are the repository's choice: shown as code, quoted in links.
    label = verbatim(f"{path}:{line}" if line else path)
    if not job.blob_url:
        return label
    anchor = f"#L{line}" if line else ""
    target = quote(path.encode("utf-8", "surrogateescape"), safe="/")
    return f"[{label}]({job.blob_url}{target}{anchor})"


def title_of(job: Job) -> str:
    """The pull request title: the task ID and title (text from the task file, trusted)."""
    return f"{job.task_id}: {job.title}"[:250]


def _gate_table(findings: Sequence[LintFinding], rules: Collection[str]) -> str:
    rows = ["| rule | check | result |", "| --- | --- | --- |"]
    for rule_id in sorted(set(rules) | {f.rule for f in findings}):
        info = RULES.get(rule_id)
        name = info.name if info else rule_id
        mine = [f for f in findings if f.rule == rule_id]
        errors = sum(f.severity is Severity.ERROR for f in mine)
        warnings = len(mine) - errors
        if errors:
            result = f"❌ {errors} error{'s' if errors != 1 else ''}"
        elif warnings:
            result = f"⚠️ {warnings} warning{'s' if warnings != 1 else ''}"
        else:
            result = "✅ pass"
        rows.append(f"| {rule_id} | {name} | {result} |")
    return "\n".join(rows)


def _findings(findings: Sequence[LintFinding], hosts: Collection[str]) -> str:
    if not findings:
        return ""
    lines = [
        f"- {inline(f'{f.path}:{f.line}', hosts)} {f.rule}: "
        f"{inline(f.message.splitlines()[0] if f.message else '', hosts)}"
        for f in findings[:50]
    ]
    more = f"\n- … {len(findings) - 50} more" if len(findings) > 50 else ""
    listing = "\n".join(lines) + more
    return f"\n\n<details><summary>Findings</summary>\n\n{listing}\n\n</details>"


def _usage(outcome: Outcome) -> str:
    u = outcome.usage
    return (
        f"{outcome.turns} turns · input {u.input:,} · output {u.output:,} · "
        f"cache read {u.cache_read:,} · cache write {u.cache_write:,} · ${u.cost_usd:.4f}"
    )


def _origin(job: Job) -> list[str]:
    refs = ", ".join(f"{ref.label} ({_where(job, ref.path, ref.line)})" for ref in job.refs)
    return [
        f"**Task:** {job.task_id} — {job.title} ({_where(job, job.task_path, job.task_line)})",
        f"**Approved in:** `{job.approving_commit[:12]}` by {verbatim(job.approver) or 'unknown'}",
        f"**Spec:** {refs or 'no references'}",
    ]


def pr_body(job: Job, outcome: Outcome, hosts: Collection[str], *, ticked: bool) -> str:
    """The pull request's body."""
    assumptions = "".join(f"- {inline(a, hosts)}\n" for a in outcome.assumptions) or "- none\n"
    tick = (
        "Merging marks the task done in its task file."
        if ticked
        else "The task file could not be marked done safely: tick the task after merging."
    )
    parts = [
        "Implemented by speckitd's agent; checked by the gates before this pull request "
        "was opened.",
        "",
        *_origin(job),
        "",
        "### Summary",
        "",
        block(outcome.summary, hosts) if outcome.summary.strip() else "(no summary)",
        "",
        "### Assumptions",
        "",
        assumptions.rstrip(),
        "",
        "### Gates",
        "",
        _gate_table(outcome.findings, job.rules) + _findings(outcome.findings, hosts),
        "",
        f"**Usage:** {_usage(outcome)}",
        f"**Transcript:** `{job.transcript or 'not kept'}`",
        "",
        tick,
        "",
        marker(job.key, job.digest),
    ]
    return "\n".join(parts) + "\n"


_WHY = {
    Ending.CLARIFICATION: "The agent stopped to ask before implementing this task.",
    Ending.BUDGET: "The run ended when its budget ran out, before the task was done.",
    Ending.GATES_FAILED: "The agent's work still failed the gates after the repair rounds.",
    Ending.REFUSED: "The model declined to implement this task.",
    Ending.FAILED: "The run could not finish.",
}


def issue_title(job: Job, outcome: Outcome) -> str:
    """The clarification issue's title."""
    what = "needs clarification" if outcome.ending is Ending.CLARIFICATION else "was not completed"
    return f"{job.task_id} {what}: {job.title}"[:250]


def issue_body(job: Job, outcome: Outcome, hosts: Collection[str]) -> str:
    """The clarification issue's body: what is missing, what was read, the questions."""
    consulted = "".join(f"- {inline(c, hosts)}\n" for c in outcome.consulted) or "- none\n"
    questions = "".join(
        f"{n}. {inline(q, hosts)}\n" for n, q in enumerate(outcome.questions, start=1)
    )
    parts = [
        _WHY.get(outcome.ending, "The run could not finish."),
        "",
        *_origin(job),
        "",
        "### What is missing",
        "",
        block(outcome.missing or outcome.detail, hosts)
        if (outcome.missing or outcome.detail).strip()
        else "(not said)",
        "",
        "### Consulted",
        "",
        consulted.rstrip(),
    ]
    if questions:
        parts += ["", "### Questions", "", questions.rstrip()]
    if outcome.findings:
        parts += ["", "### Gates", "", _gate_table(outcome.findings, job.rules)]
    parts += [
        "",
        "### How to answer",
        "",
        f"Edit the task (or the spec sections it cites) in {verbatim(job.task_path)} and "
        "approve it again: the new text gets a new digest and speckitd runs it with your answer. "
        "Where the forge supports it, an approver may also reply on this issue.",
        "",
        f"**Usage:** {_usage(outcome)}",
        f"**Transcript:** `{job.transcript or 'not kept'}`",
        "",
        marker(job.key, job.digest),
    ]
    return "\n".join(parts) + "\n"
