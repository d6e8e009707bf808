"""What the model sees (DESIGN §5): the system prompt and the task's context. Pure.

The context is the task's own block verbatim, the spec, plan and contract sections it
references, the constitution, and a file tree of the writable scope: not whole
documents. Its order is fixed (constitution → spec → plan → other documents → tree →
task) and byte-stable, so prompt caching hits: one breakpoint after the tools and
system prompt (shared by every task of an agent), one after the constitution (shared
by every task of the repository), one after the whole context (shared by every turn
of the run). Hidden channels an injected instruction could use (HTML comments,
zero-width and bidi controls) are stripped first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from daemon import invisible
from daemon.spec.model import Section, SectionIndex, Task
from daemon.spec.refs import resolve
from daemon.spec.text import split_lines

CACHE: Final[Mapping[str, str]] = {"type": "ephemeral"}
_HIDDEN: Final = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# Image alt text and link titles are where injected instructions hide in Markdown.
_IMAGE: Final = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]*)[^)]*\)")
_LINK_TITLE: Final = re.compile(r"(\[[^\]]*\]\(\s*[^)\s]+)\s+(?:\"[^\"]*\"|'[^']*')\s*\)")
# The context's own tags: text from the repository must not open or close one.
_OUR_TAGS: Final = re.compile(
    r"<(/?)(task|section|document|constitution|file-tree|unresolved-references"
    r"|clarification-answer)\b",
    re.I,
)
_ORDER: Final = ("spec", "plan", "data-model", "research", "quickstart")
_SMALL_DOCUMENT: Final = 8 * 1024

RUNNER_RULES: Final = """\
# How this run works

You are running unattended inside speckitd, on a git worktree of your own. Work only
through the tools:
- `str_replace_based_edit_tool` views and edits files; paths are relative to the
  repository root. You may write only inside your write scope: {scope}.
- `search_code` searches the repository (read-only).
- `run_checks` runs the gates (the linter rules and the project's checks) on your
  current work and returns the report.
- End the run with exactly one of:
  - `complete_task` when the task is implemented; the gates run then, and if they
    fail you get the report and may fix the findings;
  - `request_clarification` when the task cannot be done as specified (the Failure
    Mode Protocol): say what is missing, what you consulted, and your questions.
Nobody reads plain text replies: only these two tools end the run.
"""


@dataclass(frozen=True, slots=True)
class Document:
    """A spec document the task can see: its kind, path, text and section index."""

    kind: str
    path: str
    text: str
    index: SectionIndex


@dataclass(frozen=True, slots=True)
class Prompt:
    """The system blocks and the first user message of a run, with what the bound left out."""

    system: tuple[dict[str, Any], ...]
    context: tuple[dict[str, Any], ...]
    omitted: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()


def sanitize(text: str) -> str:
    """``text`` without hidden channels: comments, invisible characters, alt text, titles.

    The context's own tags are escaped so repository text cannot forge its structure.
    """
    text = invisible.strip(_HIDDEN.sub("", text))
    text = _LINK_TITLE.sub(r"\1)", _IMAGE.sub(r"[image \1]", text))
    return _OUR_TAGS.sub(r"&lt;\1\2", text)


def system_blocks(agent_prompt: str, scope: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """The agent's prompt and the runner's rules, cached together with the tools."""
    rules = RUNNER_RULES.format(scope=", ".join(f"`{glob}`" for glob in scope) or "(none)")
    return (
        {"type": "text", "text": sanitize(agent_prompt).strip() + "\n"},
        {"type": "text", "text": rules, "cache_control": dict(CACHE)},
    )


def _lines(text: str, first: int, last: int) -> str:
    return "\n".join(split_lines(text)[first - 1 : last])  # the parser's line numbers


def _tag(name: str, attributes: Mapping[str, str], body: str) -> str:
    # Attribute values (paths the repository chose) are escaped and single-line.
    attrs = "".join(f' {key}="{_attribute(value)}"' for key, value in attributes.items())
    return f"<{name}{attrs}>\n{body.rstrip()}\n</{name}>\n"


def _attribute(value: str) -> str:
    value = html.escape(invisible.strip(_HIDDEN.sub("", value)), quote=True)
    return value.replace("\n", " ").replace("\r", " ")


def _kind_rank(kind: str) -> tuple[int, str]:
    return (_ORDER.index(kind) if kind in _ORDER else len(_ORDER), kind)


def referenced(
    task: Task, documents: Mapping[str, Document]
) -> tuple[list[tuple[Document, Section | None]], list[str]]:
    """The sections (or small whole documents) the task references, and what is left out."""
    indexes = {kind: doc.index for kind, doc in documents.items() if kind != "constitution"}
    by_path = {doc.path: doc for doc in documents.values()}
    wanted: dict[tuple[str, int], tuple[Document, Section | None]] = {}
    unresolved: list[str] = []
    for ref in task.refs:
        found = resolve(ref, indexes)
        if not found.resolved or found.path is None:
            if not ref.implicit:
                unresolved.append(found.problem or ref.raw)
            continue
        doc = by_path[found.path]
        if found.sections:
            for section in found.sections:
                wanted[(doc.path, section.line)] = (doc, section)
        elif len(doc.text.encode()) <= _SMALL_DOCUMENT:
            wanted[(doc.path, 0)] = (doc, None)
        else:
            unresolved.append(
                f"{ref.raw!r}: {doc.path} is referenced as a whole and is too large to include; "
                "view the parts you need"
            )
    ordered = sorted(
        wanted.values(),
        key=lambda pair: (_kind_rank(pair[0].kind), pair[0].path, pair[1].line if pair[1] else 0),
    )
    return ordered, unresolved


def _covered(
    chosen: list[tuple[Document, Section | None]],
) -> list[tuple[Document, Section | None]]:
    """Drop sections that lie inside another chosen section of the same document."""
    kept: list[tuple[Document, Section | None]] = []
    for doc, section in chosen:
        inside = any(
            other_doc.path == doc.path
            and (
                other is None
                or (
                    section is not None
                    and other.line < section.line
                    and section.end_line <= other.end_line
                )
            )
            for other_doc, other in chosen
            if (other_doc, other) != (doc, section)
        )
        if not inside:
            kept.append((doc, section))
    return kept


def build_context(
    task: Task,
    task_path: str,
    task_text: str,
    documents: Mapping[str, Document],
    tree: Sequence[str],
    *,
    max_bytes: int,
    answer: str | None = None,
) -> Prompt:
    """The first user message: constitution, sections, tree and task, within ``max_bytes``.

    The task block always goes in; the constitution, then sections in order, then the
    file tree fill what is left, and anything that does not fit is named in ``omitted``.
    """
    task_block = _tag(
        "task",
        {"id": task.id, "file": task_path, "lines": f"{task.line}-{task.end_line}"},
        sanitize(_lines(task_text, task.line, task.end_line)),
    )
    chosen, unresolved = referenced(task, documents)
    notes = _tag("unresolved-references", {}, "\n".join(unresolved)) if unresolved else ""
    budget = max_bytes - len(task_block.encode())
    omitted: list[str] = []
    blocks: list[dict[str, Any]] = []
    if notes and len(notes.encode()) > budget:
        omitted.append("unresolved references")
        notes = ""
    budget -= len(notes.encode())

    def take(text: str, label: str) -> bool:
        nonlocal budget
        size = len(text.encode())
        if size > budget:
            omitted.append(label)
            return False
        budget -= size
        return True

    constitution = documents.get("constitution")
    if constitution is not None:
        text = _tag("constitution", {"path": constitution.path}, sanitize(constitution.text))
        if take(text, constitution.path):
            blocks.append({"type": "text", "text": text, "cache_control": dict(CACHE)})
    parts: list[str] = []
    for doc, section in _covered(chosen):
        if section is None:
            text = _tag("document", {"kind": doc.kind, "path": doc.path}, sanitize(doc.text))
            label = doc.path
        else:
            body = sanitize(_lines(doc.text, section.line, section.end_line))
            where = {
                "kind": doc.kind,
                "path": doc.path,
                "lines": f"{section.line}-{section.end_line}",
            }
            text = _tag("section", where, body)
            label = f"{doc.path}:{section.line} {section.title}"
        if take(text, label):
            parts.append(text)
    # One name per line: a file name holding a newline or a tag cannot forge structure.
    names = (sanitize(name).replace("\n", "\\n").replace("\r", "\\r") for name in tree)
    listing = _tag("file-tree", {"scope": "writable"}, "\n".join(names) or "(empty)")
    if take(listing, "file tree"):
        parts.append(listing)
    parts.append(notes)
    if answer:
        # An approver's reply to the run's clarification issue: the model asked for it.
        reply = _tag("clarification-answer", {}, sanitize(answer))
        if take(reply, "clarification answer"):
            parts.append(reply)
    parts.append(task_block)
    blocks.append({"type": "text", "text": "".join(parts), "cache_control": dict(CACHE)})
    return Prompt((), tuple(blocks), tuple(omitted), tuple(unresolved))
