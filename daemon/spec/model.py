"""Frozen values the spec-kit parser produces and everything downstream reads."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


class Severity(enum.StrEnum):
    """How much a finding matters."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something wrong with a document, pinned to a file and a line (0: the whole file)."""

    path: str
    line: int
    code: str
    message: str
    severity: Severity = Severity.WARNING

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.severity}: {self.message} [{self.code}]"


class TaskState(enum.StrEnum):
    """A task's state as its document says; approval by trailer is decided by detection."""

    OPEN = "open"
    APPROVED = "approved"
    HELD = "held"
    DONE = "done"


class Style(enum.StrEnum):
    """Which grammar a task was written in."""

    CHECKLIST = "checklist"
    HEADING = "heading"
    BULLET = "bullet"
    TABLE = "table"
    YAML = "yaml"
    FIELDS = "fields"
    LINE = "line"
    NUMBERED = "numbered"


@dataclass(frozen=True, slots=True)
class SectionRef:
    """A reference from a task to a section of a spec-kit document.

    ``doc`` is a document kind (``spec``, ``plan``, ``constitution``, ``data-model``,
    ``research``, ``quickstart``, ``tasks``), a path under ``contracts/``, or None
    when the text names no document. ``section`` is None for the whole document.
    ``implicit`` marks references derived from story tags such as ``[US1]``.
    """

    raw: str
    doc: str | None
    section: str | None
    line: int
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a task file, with everything the daemon needs to run it."""

    id: str
    key: str
    title: str
    description: str
    phase: str | None
    tags: tuple[str, ...]
    stories: tuple[str, ...]
    parallel: bool
    done: bool
    approved: bool
    held: bool
    refs: tuple[SectionRef, ...]
    paths: tuple[str, ...]
    depends_on: tuple[str, ...]
    line: int
    end_line: int
    digest: str
    style: Style

    @property
    def digest12(self) -> str:
        """The short digest used in markers and trailers."""
        return self.digest[:12]

    @property
    def state(self) -> TaskState:
        """The state the document alone gives the task: done > held > approved > open."""
        if self.done:
            return TaskState.DONE
        if self.held:
            return TaskState.HELD
        if self.approved:
            return TaskState.APPROVED
        return TaskState.OPEN


class TaskCore(NamedTuple):
    """What detection needs of a task: identity, digest and markers, no positions.

    A named tuple rather than a dataclass: every version of a task file read in a
    scan makes one per task, and tuples are made and compared about twice as fast.
    """

    id: str
    key: str
    title: str
    digest: str
    done: bool
    approved: bool
    held: bool
    unclear: str  # a status that reads as approval and does not count (reported), or ""


@dataclass(frozen=True, slots=True)
class FileApproval:
    """What a task file's YAML front matter says about every task in it."""

    approved_all: bool = False
    held_all: bool = False
    approved_keys: frozenset[str] = frozenset()


def state_of(task: Task | TaskCore, approval: FileApproval) -> TaskState:
    """A task's state with its file's front matter applied: done > held > approved > open."""
    if task.done:
        return TaskState.DONE
    if task.held or approval.held_all:
        return TaskState.HELD
    if task.approved or approval.approved_all or task.key in approval.approved_keys:
        return TaskState.APPROVED
    return TaskState.OPEN


@dataclass(frozen=True, slots=True)
class CoreFile:
    """A task file as detection reads it: each task's core facts and block span.

    ``spans`` holds each task's first and last line (1-based), parallel to
    ``cores``; ``index`` maps keys to positions. ``kinds`` (one byte per line, the
    :class:`~daemon.spec.markdown.Kind` values) and ``editable`` let a later
    version be read incrementally (:mod:`daemon.spec.incremental`).
    """

    path: str
    cores: tuple[TaskCore, ...]
    spans: tuple[tuple[int, int], ...] = ()
    approval: FileApproval = field(default_factory=FileApproval)
    findings: tuple[Finding, ...] = ()
    index: Mapping[str, int] = field(default_factory=dict)
    kinds: bytes = b""
    editable: bool = False

    def task(self, key: str) -> TaskCore | None:
        """The task with ``key``, or None."""
        position = self.index.get(key)
        return None if position is None else self.cores[position]

    def held(self, task: TaskCore) -> bool:
        """Whether the document holds ``task``."""
        return task.held or self.approval.held_all

    def state(self, task: TaskCore) -> TaskState:
        """The task's state with front matter applied."""
        return state_of(task, self.approval)


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A parsed task file: its tasks in document order and what was wrong with it."""

    path: str
    tasks: tuple[Task, ...]
    findings: tuple[Finding, ...] = ()
    approval: FileApproval = field(default_factory=FileApproval)

    def task(self, key: str) -> Task | None:
        """Return the task with ``key``, or None."""
        for task in self.tasks:
            if task.key == key:
                return task
        return None

    def state(self, task: Task) -> TaskState:
        """The task's state with front matter applied."""
        return state_of(task, self.approval)


@dataclass(frozen=True, slots=True)
class Section:
    """A section of a spec, plan or constitution: a heading or a bold-labelled item.

    ``keys`` are what references resolve against: a number (``2.1``), label keys
    (``FR1``, ``US1``, ``DD1``) and the normalized title.
    """

    keys: tuple[str, ...]
    title: str
    level: int
    line: int
    end_line: int


@dataclass(frozen=True, slots=True)
class SectionIndex:
    """The sections of one document, in document order."""

    path: str
    sections: tuple[Section, ...]
    findings: tuple[Finding, ...] = ()
