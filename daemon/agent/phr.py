"""A Prompt History Record of a run (spec-kit-plus format), for the publisher to commit. Pure.

Path: ``history/prompts/<feature>/<task id>-<slug>.green.prompt.md``; front matter
(id, title, stage, date, surface, model, feature, branch, user, command, labels,
links, files, tests) then the Prompt, Response snapshot, Outcome and Evaluation
sections the spec-kit-plus template has.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from daemon.agent.outcome import Outcome
from daemon.naming import slug

_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff]")


def _quoted(value: str) -> str:
    """A double-quoted YAML scalar: JSON's escapes, plus those YAML would reject or fold."""
    return _UNPRINTABLE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False)
    )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What the PHR says about a run besides its outcome."""

    task_id: str
    title: str
    feature: str
    branch: str
    model: str
    date: str
    prompt: str


def phr_path(record: RunRecord) -> str:
    """Where the record is committed."""
    feature = slug(record.feature, 60) if record.feature else "general"
    return f"history/prompts/{feature}/{slug(record.task_id)}-{slug(record.title)}.green.prompt.md"


def phr_text(record: RunRecord, outcome: Outcome) -> str:
    """The record's Markdown with YAML front matter."""
    files = "".join(f"  - {_quoted(path)}\n" for path in outcome.files) or "  - none\n"
    refs = ", ".join(outcome.spec_refs) or "none"
    assumptions = "".join(f"- {a}\n" for a in outcome.assumptions) or "- none\n"
    usage = outcome.usage
    return (
        "---\n"
        f"id: {_quoted(record.task_id)}\n"
        f"title: {_quoted(record.title)}\n"
        "stage: green\n"
        f"date: {record.date}\n"
        "surface: agent\n"
        f"model: {_quoted(record.model)}\n"
        f"feature: {_quoted(record.feature or 'none')}\n"
        f"branch: {_quoted(record.branch)}\n"
        "user: speckitd\n"
        "command: speckitd run\n"
        f'labels: ["speckitd", {_quoted(record.task_id)}]\n'
        "links:\n  spec: null\n  ticket: null\n  adr: null\n  pr: null\n"
        f"files:\n{files}"
        "tests:\n  - gates (speckitd lint)\n"
        "---\n\n"
        f"## Prompt\n\n{record.prompt.strip()}\n\n"
        f"## Response snapshot\n\n{outcome.summary.strip() or outcome.detail}\n\n"
        "Assumptions:\n"
        f"{assumptions}\n"
        "## Outcome\n\n"
        f"- ✅ Impact: {outcome.ending.value}; implements {refs}\n"
        f"- 🧪 Tests: gates {'passed' if outcome.publishable else 'not passed'}\n"
        f"- 📁 Files: {len(outcome.files)} changed\n"
        "- 🔁 Next prompts: none\n"
        f"- 🧠 Reflection: {outcome.turns} turns, {usage.total:,} tokens, "
        f"${usage.cost_usd:.4f}\n\n"
        "## Evaluation notes (flywheel)\n\n"
        f"- Failure modes observed: {outcome.detail or 'none'}\n"
        "- Graders run and results (PASS/FAIL): "
        f"gates {'PASS' if outcome.publishable else 'FAIL'}\n"
        "- Prompt variant (if applicable): none\n"
        "- Next experiment (smallest change to try): none\n"
    )
