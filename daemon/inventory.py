"""The task files and spec documents of a repository at one revision, or of a directory.

A :class:`Source` reads files from a git tree or from disk; :func:`read_inventory`
parses every task file in it and resolves each task's references against the
spec documents next to it (DESIGN §2).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from daemon.git import Repo
from daemon.globs import matches
from daemon.spec.layout import documents_for
from daemon.spec.model import Finding, SectionIndex, TaskFile
from daemon.spec.refs import Resolution, resolve
from daemon.spec.sections import index_sections
from daemon.spec.tasks import parse_tasks
from daemon.spec.text import MAX_FILE_BYTES

_SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".uv"})


class Source(Protocol):
    """Where documents are read from."""

    def task_paths(self) -> list[str]:
        """Paths of the task files, sorted."""
        ...

    def paths(self) -> set[str]:
        """Every file path (for locating spec documents)."""
        ...

    def read(self, path: str) -> bytes | None:
        """A file's content, or None when it is not a readable regular file."""
        ...


@dataclass(slots=True)
class DirectorySource:
    """Files on disk under ``root`` (a working tree, or a folder that is not a repository)."""

    root: Path
    globs: tuple[str, ...]
    _paths: set[str] | None = None

    def paths(self) -> set[str]:
        """Every regular file under ``root``, skipping VCS and virtualenv folders."""
        if self._paths is None:
            found: set[str] = set()
            for folder, dirs, files in os.walk(self.root):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                relative = Path(folder).relative_to(self.root).as_posix()
                prefix = "" if relative == "." else relative + "/"
                found.update(prefix + name for name in files)
            self._paths = found
        return self._paths

    def task_paths(self) -> list[str]:
        """Paths matching the task-file globs."""
        return sorted(path for path in self.paths() if matches(path, self.globs))

    def read(self, path: str) -> bytes | None:
        """Read a regular file (symlinks are not followed)."""
        target = self.root / path
        if target.is_symlink() or not target.is_file():
            return None
        return target.read_bytes()


@dataclass(slots=True)
class TreeSource:
    """Files of one git tree."""

    repo: Repo
    tree: str
    _paths: set[str] | None = None

    def paths(self) -> set[str]:
        """Every file path in the tree."""
        if self._paths is None:
            self._paths = self.repo.paths(self.tree)
        return self._paths

    def task_paths(self) -> list[str]:
        """Paths matching the task-file globs."""
        return sorted(self.repo.task_files(self.tree))

    def read(self, path: str) -> bytes | None:
        """A regular file's content in the tree."""
        return self.repo.read(self.tree, path)


@dataclass(frozen=True, slots=True)
class TaskDocuments:
    """A parsed task file, with its tasks' references resolved."""

    file: TaskFile
    resolutions: dict[str, tuple[Resolution, ...]]
    findings: tuple[Finding, ...]


@dataclass(slots=True)
class Inventory:
    """Task files of one source, parsed, with section indexes built once per document."""

    source: Source
    max_bytes: int = MAX_FILE_BYTES
    indexes: dict[str, SectionIndex] = field(default_factory=dict)

    def index(self, path: str) -> SectionIndex | None:
        """The section index of a document (cached)."""
        if path not in self.indexes:
            data = self.source.read(path)
            if data is None:
                return None
            self.indexes[path] = index_sections(data, path)
        return self.indexes[path]

    def documents(self, parsed: TaskFile) -> TaskDocuments:
        """Resolve every reference of every task in ``parsed``."""
        kinds = documents_for(parsed.path, self.source.paths())
        docs = {kind: index for kind, path in kinds.items() if (index := self.index(path))}
        resolutions: dict[str, tuple[Resolution, ...]] = {}
        findings: list[Finding] = []
        for task in parsed.tasks:
            results = tuple(resolve(ref, docs) for ref in task.refs)
            resolutions[task.key] = results
            for result in results:
                if result.problem and not result.ref.implicit:
                    message = f"{task.id}: unresolved reference {result.problem}"
                    findings.append(
                        Finding(parsed.path, result.ref.line, "refs.unresolved", message)
                    )
        return TaskDocuments(parsed, resolutions, tuple(findings))

    def files(self) -> Iterator[TaskFile]:
        """Every task file of the source, parsed."""
        for path in self.source.task_paths():
            data = self.source.read(path)
            if data is None:
                message = "not a regular file (symlink?); ignored"
                yield TaskFile(path, (), (Finding(path, 1, "input.not-regular", message),))
                continue
            yield parse_tasks(data, path, max_bytes=self.max_bytes)
