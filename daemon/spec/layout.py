"""Where spec-kit keeps its documents (DESIGN §2), as pure functions of a path listing.

Two layouts: ``specs/NNN-feature/{spec,plan,tasks,data-model,...}.md`` with
``.specify/memory/constitution.md``, and root files ``speckit.{specify,plan,tasks,
constitution}`` (at the root or under ``specs/``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from typing import Final

DEFAULT_TASK_FILES: Final = (
    "speckit.tasks",
    "speckit.tasks.md",
    "specs/speckit.tasks",
    "specs/*/tasks.md",
)

_SIBLINGS: Final[dict[str, tuple[str, ...]]] = {
    "spec": ("spec.md", "speckit.specify", "speckit.specify.md", "speckit.spec"),
    "plan": ("plan.md", "speckit.plan", "speckit.plan.md"),
    "data-model": ("data-model.md",),
    "research": ("research.md",),
    "quickstart": ("quickstart.md",),
    "constitution": ("speckit.constitution", "constitution.md"),
}
_CONSTITUTIONS: Final = (
    ".specify/memory/constitution.md",
    "memory/constitution.md",
    "speckit.constitution",
    "specs/speckit.constitution",
    ".specify/constitution.md",
)


def feature_of(task_path: str) -> str:
    """The feature a task file belongs to: its folder (``001-auth``), or ``""`` at the root."""
    folder = posixpath.dirname(task_path)
    return posixpath.basename(folder) if folder else ""


def documents_for(task_path: str, paths: Collection[str]) -> dict[str, str]:
    """Map document kinds (and ``contracts/<file>``) to the paths a task file's references use."""
    folder = posixpath.dirname(task_path)
    found: dict[str, str] = {}
    for kind, names in _SIBLINGS.items():
        for name in names:
            candidate = posixpath.join(folder, name) if folder else name
            if candidate in paths:
                found[kind] = candidate
                break
    if "constitution" not in found:
        for candidate in _CONSTITUTIONS:
            if candidate in paths:
                found["constitution"] = candidate
                break
    contracts = posixpath.join(folder, "contracts") + "/" if folder else "contracts/"
    for path in sorted(paths):
        if path.startswith(contracts):
            found["contracts/" + path[len(contracts) :]] = path
    return found
