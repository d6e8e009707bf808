"""Output of ``speckitd tasks`` and ``speckitd scan``: one JSON payload, and text made from it.

The JSON shapes are a contract (README, "JSON output"): ``schema`` names the
shape and its version; fields are only ever added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daemon.detect import Approval, Ignored, Withdrawal
from daemon.inventory import TaskDocuments
from daemon.scan import ScanReport
from daemon.spec.model import Finding, Task, TaskFile, TaskState
from daemon.spec.refs import Resolution

TASKS_SCHEMA = "speckitd.tasks/1"
SCAN_SCHEMA = "speckitd.scan/1"

Json = dict[str, Any]


def finding_json(finding: Finding) -> Json:
    """A finding as JSON."""
    return {
        "file": finding.path,
        "line": finding.line,
        "severity": str(finding.severity),
        "code": finding.code,
        "message": finding.message,
    }


def approval_json(approval: Approval) -> Json:
    """An approval as JSON."""
    return {
        "id": approval.task_id,
        "key": approval.key,
        "file": approval.path,
        "title": approval.title,
        "digest": approval.digest[:12],
        "commit": approval.commit,
        "approver": {"name": approval.approver.name, "email": approval.approver.email},
        "signal": str(approval.signal),
        "signature": str(approval.signature),
    }


def _ref_json(result: Resolution) -> Json:
    ref = result.ref
    section = result.sections[0] if result.sections else None
    return {
        "raw": ref.raw,
        "doc": ref.doc,
        "section": ref.section,
        "implicit": ref.implicit,
        "resolved": result.resolved,
        "path": result.path,
        "line": section.line if section else None,
        "problem": result.problem,
    }


def task_json(
    task: Task, parsed: TaskFile, state: str, approval: Approval | None, refs: Sequence[Resolution]
) -> Json:
    """A task with its state, approval and resolved references."""
    return {
        "id": task.id,
        "key": task.key,
        "file": parsed.path,
        "line": task.line,
        "end_line": task.end_line,
        "state": state,
        "title": task.title,
        "phase": task.phase,
        "style": str(task.style),
        "tags": list(task.tags),
        "stories": list(task.stories),
        "parallel": task.parallel,
        "digest": task.digest[:12],
        "depends_on": list(task.depends_on),
        "paths": list(task.paths),
        "refs": [_ref_json(result) for result in refs],
        "approval": approval_json(approval) if approval else None,
    }


def tasks_payload(
    *,
    repo: str,
    rev: str | None,
    commit: str | None,
    documents: Sequence[TaskDocuments],
    approvals: Mapping[tuple[str, str], Approval] | None,
) -> Json:
    """The ``speckitd tasks`` payload. ``approvals`` is None when history is unknown (no git)."""
    tasks: list[Json] = []
    findings: list[Finding] = []
    for docs in documents:
        parsed = docs.file
        findings += [*parsed.findings, *docs.findings]
        for task in parsed.tasks:
            state = parsed.state(task)
            approval = None
            if approvals is not None and state in {TaskState.APPROVED, TaskState.OPEN}:
                # With history, detection decides: markers by unauthorized authors do not count.
                found = approvals.get((parsed.path, task.key))
                approval = found if found is not None and found.digest == task.digest else None
                state = TaskState.APPROVED if approval else TaskState.OPEN
            refs = docs.resolutions[task.key]
            tasks.append(task_json(task, parsed, str(state), approval, refs))
    return {
        "schema": TASKS_SCHEMA,
        "repo": repo,
        "rev": rev,
        "commit": commit,
        "history": approvals is not None,
        "tasks": tasks,
        "findings": [finding_json(f) for f in sorted(findings, key=_finding_order)],
    }


def _finding_order(finding: Finding) -> tuple[str, int]:
    return finding.path, finding.line


def _withdrawal_json(withdrawal: Withdrawal) -> Json:
    return {**approval_json(withdrawal.approval), "ended_at": withdrawal.commit or None,
            "reason": str(withdrawal.reason)}  # fmt: skip


def _ignored_json(ignored: Ignored) -> Json:
    return {
        "commit": ignored.commit,
        "author": {"name": ignored.author.name, "email": ignored.author.email},
        "signal": str(ignored.signal),
        "item": ignored.item,
        "file": ignored.path,
        "reason": ignored.reason,
    }


def scan_payload(repo: str, report: ScanReport) -> Json:
    """The ``speckitd scan`` payload."""
    waiting = {w.approval.ident: w.pending for w in report.waiting}
    return {
        "schema": SCAN_SCHEMA,
        "repo": repo,
        "from": report.old,
        "to": report.new,
        "commits": report.commits,
        "rewritten": report.rewritten,
        "run": [approval_json(a) for a in report.runnable],
        "waiting": [
            {**approval_json(a), "pending": list(waiting[a.ident])}
            for a in report.result.approved
            if a.ident in waiting
        ],
        "withdrawn": [_withdrawal_json(w) for w in report.result.withdrawn],
        "ignored": [_ignored_json(i) for i in report.result.ignored],
        "findings": [finding_json(f) for f in sorted(report.findings, key=_finding_order)],
    }


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "-"


def tasks_text(payload: Json) -> str:
    """``speckitd tasks`` as a table, one task per line, references under each task."""
    where = payload["rev"] or "working tree"
    head = f"{payload['repo']} at {where}"
    if payload["commit"]:
        head += f" ({_short(payload['commit'])})"
    tasks = payload["tasks"]
    out = [f"{head}: {len(tasks)} task{'s' if len(tasks) != 1 else ''}"]
    if not payload["history"]:
        out.append("(not a git repository: approvals read from the documents only)")
    width = max((len(t["id"]) for t in tasks), default=2)
    place = max((len(f"{t['file']}:{t['line']}") for t in tasks), default=4)
    for task in tasks:
        location = f"{task['file']}:{task['line']}"
        line = f"{task['id']:<{width}}  {task['state']:<8}  {location:<{place}}  {task['title']}"
        out.append(line.rstrip())
        refs = [_ref_text(ref) for ref in task["refs"] if not ref["implicit"] or ref["resolved"]]
        if refs:
            out.append(" " * (width + 12) + "refs: " + ", ".join(refs))
        if task["approval"]:
            approval = task["approval"]
            by = f"{approval['approver']['name']} <{approval['approver']['email']}>"
            note = f"approved by {by} in {_short(approval['commit'])} ({approval['signal']})"
            out.append(" " * (width + 12) + note)
    return "\n".join(out)


def _ref_text(ref: Json) -> str:
    if ref["resolved"] and ref["line"]:
        return f"{ref['raw']} → {ref['path']}:{ref['line']}"
    if ref["resolved"]:
        return f"{ref['raw']} → {ref['path']}"
    return f"{ref['raw']} (unresolved)"


def scan_text(payload: Json) -> str:
    """``speckitd scan`` as a report: what would run, what waits, what was withdrawn or ignored."""
    start = _short(payload["from"]) if payload["from"] else "the first commit"
    span = f"{start} → {_short(payload['to'])}"
    out = [f"{payload['repo']}: scanned {payload['commits']} commits, {span}"]
    if payload["rewritten"]:
        out.append("history was rewritten (force-push): approvals from vanished commits withdrawn")
    sections = (
        ("would run", payload["run"], _approval_line),
        ("waiting for dependencies", payload["waiting"], _waiting_line),
        ("withdrawn", payload["withdrawn"], _withdrawn_line),
        ("ignored", payload["ignored"], _ignored_line),
    )
    for title, items, line in sections:
        out.append(f"{title}: {len(items)}")
        out += [f"  {line(item)}" for item in items]
    return "\n".join(out)


def _approval_line(item: Json) -> str:
    by = f"{item['approver']['name']} <{item['approver']['email']}>"
    return (
        f"{item['id']}  {item['file']}  {item['title']}\n"
        f"      approved by {by} in {_short(item['commit'])} ({item['signal']}), "
        f"digest {item['digest']}"
    )


def _waiting_line(item: Json) -> str:
    return f"{_approval_line(item)}\n      waits for: {', '.join(item['pending'])}"


def _withdrawn_line(item: Json) -> str:
    ended = f" at {_short(item['ended_at'])}" if item["ended_at"] else ""
    return f"{item['id']}  {item['file']}  {item['reason']}{ended} (was {item['digest']})"


def _ignored_line(item: Json) -> str:
    by = f"{item['author']['name']} <{item['author']['email']}>"
    return (
        f"{item['item']} ({item['signal']}) in {_short(item['commit'])} by {by}: {item['reason']}"
    )


def findings_text(findings: Sequence[Json]) -> str:
    """Findings as ``file:line: severity: message [code]`` lines."""
    return "\n".join(
        f"{f['file']}:{f['line']}: {f['severity']}: {f['message']} [{f['code']}]" for f in findings
    )
