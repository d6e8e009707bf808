"""Task files: :func:`parse_tasks` for full tasks, :func:`parse_cores` for what detection needs.

Both run the core pass (:mod:`daemon.spec.blocks`): decode, find task blocks, read
their status markers and digests. :func:`parse_tasks` adds the detail pass
(:mod:`daemon.spec.details`). Neither raises on bad input: problems are findings.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from daemon.spec import fields, recognize
from daemon.spec.blocks import (
    LOCAL_STYLES,
    Block,
    block_of,
    find_blocks,
    read_block,
    unique,
)
from daemon.spec.details import (
    Detail,
    Names,
    build_task,
    dependencies,
    phase_at,
    phases,
    read_detail,
    unclear_status,
)
from daemon.spec.markdown import Kind, Structure, rescan, scan
from daemon.spec.model import CoreFile, FileApproval, Finding, Style, TaskCore, TaskFile
from daemon.spec.recognize import Start
from daemon.spec.refs import extract
from daemon.spec.text import MAX_FILE_BYTES, Document, decode
from daemon.spec.yamldoc import YamlTask, front_matter, looks_like_yaml, yaml_tasks


@dataclass(slots=True)
class _Read:
    """A document after the core pass."""

    document: Document
    kinds: tuple[Kind, ...]
    blocks: list[Block]
    approval: FileApproval
    findings: list[Finding]
    yaml: dict[str, YamlTask] | None = None
    structure: Structure | None = None  # a Markdown file's, for the detail pass
    may_be_yaml: bool = False  # the first content line reads ``key:`` (YAML or not)


def _read(document: Document) -> _Read:
    lines, path = document.lines, document.path
    may_be_yaml = looks_like_yaml(lines)
    if may_be_yaml:
        parsed = yaml_tasks(lines, path)
        if parsed is not None:
            entries, approval, findings = parsed
            blocks, duplicates = unique([_yaml_block(lines, entry) for entry in entries], path)
            entry_at = {entry.line: entry for entry in entries}
            by_key = {block.key: entry_at[block.first + 1] for block in blocks}
            all_findings = [*document.findings, *findings, *duplicates]
            kinds = (Kind.TEXT,) * len(lines)
            return _Read(
                document, kinds, blocks, approval, all_findings, yaml=by_key, may_be_yaml=True
            )
    structure = scan(lines, path)
    approval, fm_findings = front_matter(lines, structure.front, path)
    blocks, duplicates = unique(find_blocks(lines, structure), path)
    findings = [*document.findings, *structure.findings, *fm_findings, *duplicates]
    return _Read(
        document,
        structure.kinds,
        blocks,
        approval,
        findings,
        structure=structure,
        may_be_yaml=may_be_yaml,
    )


def parse_cores(data: bytes, path: str, *, max_bytes: int = MAX_FILE_BYTES) -> CoreFile:
    """The core facts of every task in a task file (the detection path; never raises)."""
    read = _read(decode(data, path, max_bytes=max_bytes))
    return core_file(
        path, read.blocks, read.approval, read.findings, read.kinds, may_be_yaml=read.may_be_yaml
    )


def core_file(
    path: str,
    blocks: list[Block],
    approval: FileApproval,
    findings: list[Finding],
    kinds: tuple[Kind, ...],
    *,
    may_be_yaml: bool = False,
) -> CoreFile:
    """Assemble a :class:`CoreFile` from blocks.

    A file YAML may read (``may_be_yaml``) is not editable: an edit anywhere below its
    first line may complete a YAML task list (:mod:`daemon.spec.incremental`).
    """
    cores = tuple([core_of(block) for block in blocks])
    local = all(b.start.style in LOCAL_STYLES for b in blocks)
    editable = not may_be_yaml and not findings and local
    return CoreFile(
        path=path,
        cores=cores,
        spans=tuple([(block.first + 1, block.last + 1) for block in blocks]),
        approval=approval,
        findings=tuple(findings),
        index={core.key: position for position, core in enumerate(cores)},
        kinds=bytes(kinds),
        editable=editable,
    )


_core: Final = functools.partial(tuple.__new__, TaskCore)


def core_of(block: Block) -> TaskCore:
    """A block's core facts as a value."""
    start, status = block.start, block.status
    done = start.done or status == "done"
    # id, key, title, digest, done, approved, held, unclear; made in C, as a scan makes many
    return _core((start.literal, block.key, block.title, block.digest, done,
                  status == "approved", status == "held", block.unclear))  # fmt: skip


def parse_tasks(
    data: bytes,
    path: str,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    only: Collection[str] | None = None,
) -> TaskFile:
    """Parse a task file into full tasks; with ``only``, just the tasks with those keys.

    Never raises on bad input: problems become findings.
    """
    read = _read(decode(data, path, max_bytes=max_bytes))
    lines = read.document.lines
    names = Names.of(read.blocks)
    findings = read.findings
    marks: list[tuple[int, str]] = []
    if read.structure is not None:  # phases are details: the core pass leaves them
        marks = phases(read.structure, lines, {block.start.index for block in read.blocks})
    tasks = []
    for block in read.blocks:
        if only is not None and block.key not in only:
            continue
        if read.yaml is not None:
            detail = _yaml_detail(read.yaml[block.key], block)
            phase = None
        else:
            detail = read_detail(lines, read.kinds, block)
            phase = phase_at(marks, block.start.index)
        depends = dependencies(block, detail, names, path, findings)
        if (unclear := unclear_status(block, lines, path)) is not None:
            findings.append(unclear)
        tasks.append(build_task(block, detail, phase=phase, depends_on=depends))
    return TaskFile(path, tuple(tasks), tuple(findings), read.approval)


def parse_tasks_at(
    core: CoreFile,
    data: bytes,
    *,
    only: Collection[str],
    max_bytes: int = MAX_FILE_BYTES,
) -> TaskFile:
    """:func:`parse_tasks` of ``data`` with ``only``, given ``core``, its core pass.

    In a file of list tasks without findings (``core.editable``), every task's block
    is where ``core`` says, so only the wanted blocks are read again; any other file
    is parsed in full. A test holds both ways equal.
    """
    if not core.editable or not core.cores:  # editable: decoding found nothing either
        return parse_tasks(data, core.path, max_bytes=max_bytes, only=only)
    lines, path = decode(data, core.path, max_bytes=max_bytes).lines, core.path
    structure = rescan(lines, core.kinds)  # the core pass's kinds: the same lines
    names = Names.named((task.id, task.key, None) for task in core.cores)  # list tasks: no labels
    marks = phases(structure, lines, {first - 1 for first, _ in core.spans})
    findings: list[Finding] = []
    tasks = []
    for task, (first, last) in zip(core.cores, core.spans, strict=True):
        start = recognize.list_task(first - 1, lines[first - 1]) if task.key in only else None
        if start is None:
            continue
        block = read_block(lines, structure.kinds, start, first - 1, last - 1)
        detail = read_detail(lines, structure.kinds, block)
        depends = dependencies(block, detail, names, path, findings)
        if (unclear := unclear_status(block, lines, path)) is not None:
            findings.append(unclear)
        phase = phase_at(marks, block.start.index)
        tasks.append(build_task(block, detail, phase=phase, depends_on=depends))
    return TaskFile(path, tuple(tasks), tuple(findings), core.approval)


def _text_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)] if value is not None else []


def _yaml_block(lines: tuple[str, ...], entry: YamlTask) -> Block:
    values = entry.values
    written = values.get("status", "")
    status, unclear = fields.read_status(str(written))
    unclear = unclear if isinstance(written, str) else ""  # not a list's or a map's text
    title = str(values.get("title") or values.get("name") or "")
    start = Start(
        entry.line - 1, Style.YAML, entry.literal, title, done=status == "done", status=status
    )
    block = lines[entry.line - 1 : entry.end_line]
    kept = [line for line in block if not line.strip().lstrip("- ").startswith("status:")]
    first, last = entry.line - 1, entry.end_line - 1
    return block_of(start, first, last, status=status, title=title, parts=kept, unclear=unclear)


def _yaml_detail(entry: YamlTask, block: Block) -> Detail:
    values = entry.values
    refs = []
    for name in ("spec", "refs", "spec_refs", "from", "links"):
        for text in _text_list(values.get(name)):
            refs += extract(text, entry.line, bare=True)
    deps: list[str] = []
    for name in ("depends_on", "deps", "dependencies", "depends"):
        deps += _text_list(values.get(name))
    files = _text_list(values.get("files"))
    description = str(values.get("description") or "")
    paths = fields.paths_in("\n".join([block.title, description, *[f"`{f}`" for f in files]]))
    return Detail(block.title, refs, deps, description, paths)
