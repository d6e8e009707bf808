"""What git hands the hooks, read and checked (pure).

pre-push reads ref lines from stdin (or, under the pre-commit framework, its
``PRE_COMMIT_*`` variables); commit-msg reads a message file that still holds
git's comment lines, and checks the ``Approved-Tasks`` items against the task
files being committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from daemon.detect import in_scope
from daemon.errors import UsageError
from daemon.spec.ids import task_key
from daemon.spec.layout import feature_of
from daemon.spec.model import CoreFile

__all__ = [
    "RefUpdate",
    "check_items",
    "clean_message",
    "framework_updates",
    "is_zero",
    "parse_updates",
]

_SCISSORS: Final = "------------------------ >8 ------------------------"


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """One line of git's pre-push input: what is pushed, and what the remote has."""

    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str


def is_zero(sha: str) -> bool:
    """Whether ``sha`` is git's all-zeros id (a ref that does not exist on one side)."""
    return not sha.strip("0")


def parse_updates(text: str) -> list[RefUpdate]:
    """The ``<local ref> <local sha> <remote ref> <remote sha>`` lines of ``text``.

    Blank lines are skipped; any other line without exactly four fields raises
    :class:`~daemon.errors.UsageError`.
    """
    updates: list[RefUpdate] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise UsageError(
                f"pre-push: stdin line {number} is not "
                f"'<local ref> <local sha> <remote ref> <remote sha>': {line!r}"
            )
        updates.append(RefUpdate(*fields))
    return updates


def framework_updates(environ: Mapping[str, str]) -> list[RefUpdate]:
    """The pushed range as the pre-commit framework passes it (it consumes stdin itself)."""
    local = environ.get("PRE_COMMIT_TO_REF") or environ.get("PRE_COMMIT_LOCAL_BRANCH")
    if not local:
        return []
    name = environ.get("PRE_COMMIT_LOCAL_BRANCH") or local
    return [RefUpdate(name, local, "", environ.get("PRE_COMMIT_FROM_REF") or "0" * 40)]


def clean_message(text: str, comment: str = "#") -> str:
    """A message as git will record it: no comment lines, nothing below the scissors line."""
    kept: list[str] = []
    for line in text.splitlines():
        if line == f"{comment} {_SCISSORS}":
            break
        if not line.startswith(comment):
            kept.append(line)
    return "\n".join(kept)


def check_items(items: Sequence[str], files: Mapping[str, CoreFile]) -> list[str]:
    """One line per ``Approved-Tasks`` item that names no task, several, or a done one.

    Items are ``T001``, ``<feature>/T001`` or ``<task file>:T001``, scoped as
    detection scopes them; ``files`` maps task-file paths to their parsed cores.
    """
    problems: list[str] = []
    for item in items:
        scope, _, literal = item.rpartition(":" if ":" in item else "/")
        key = task_key(literal)
        found = sorted(p for p, f in files.items() if key in f.index and in_scope(p, scope))
        if not found:
            problems.append(f"Approved-Tasks: {item} names no task in {_where(scope, files)}")
        elif len(found) > 1:
            fixes = " or ".join(_scoped(path, literal, files) for path in found)
            problems.append(
                f"Approved-Tasks: {item} is ambiguous: {', '.join(found)} "
                f"all define it; write {fixes}"
            )
        elif (task := files[found[0]].task(key)) is not None and task.done:
            problems.append(
                f"Approved-Tasks: {item} is already done ({found[0]}: {task.id} {task.title})"
            )
    return problems


def _where(scope: str, files: Mapping[str, CoreFile]) -> str:
    paths = sorted(path for path in files if in_scope(path, scope))
    if not paths:
        return f"{scope} (no task file there)" if files else "any task file (none found)"
    return ", ".join(paths) if len(paths) <= 3 else f"{len(paths)} task files"


def _scoped(path: str, literal: str, files: Mapping[str, CoreFile]) -> str:
    """The shortest scoped form of ``literal`` that names only the task in ``path``."""
    feature = feature_of(path)
    if feature and sum(in_scope(other, feature) for other in files) == 1:
        return f"{feature}/{literal}"
    return f"{path}:{literal}"
