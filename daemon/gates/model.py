"""Values the gates pass around: changed files, rule configuration, lint findings. Pure."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from daemon.spec.model import SectionIndex, Severity

__all__ = [
    "RULES",
    "Change",
    "ChangedFile",
    "LintFinding",
    "RuleConfig",
    "RuleInfo",
    "Severity",
    "Status",
    "for_people",
]


class Status(enum.StrEnum):
    """How a file changed between base and head."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """One changed path: its texts at base (``old``) and head (``new``); None where absent.

    ``old_path`` is the path at base for renames. Symlinks and submodules carry
    ``binary=True`` and no texts; a regular file with a NUL byte carries ``binary=True``
    and its texts (decoded with replacement characters), which content rules still read.
    """

    path: str
    status: Status
    old: str | None = None
    new: str | None = None
    old_path: str | None = None
    binary: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    """Everything the policy engine looks at for one change (base → head).

    ``task_ids`` are the task(s) being implemented (literal IDs); ``documents``
    the spec-kit section indexes by kind (``spec``, ``plan``, ...); ``texts`` the
    raw texts of the spec documents and contracts by path (endpoint and OpenAPI
    reading); ``head_files`` every file of the head tree the rules may need to
    read beyond the changed ones (e.g. routers that include changed routers),
    as path → text.
    """

    files: tuple[ChangedFile, ...]
    task_ids: tuple[str, ...] = ()
    documents: Mapping[str, SectionIndex] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    head_files: Mapping[str, str] = field(default_factory=dict)
    base_files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """An agent's rules (DESIGN §6), with the defaults of the shipped backend-engineer."""

    write_scope: tuple[str, ...] = ("backend/app/**",)
    forbidden: tuple[str, ...] = (
        "frontend/**",
        "**/*.tsx",
        "**/*.jsx",
        "**/*.vue",
        "**/*.svelte",
        "**/*.css",
        "**/*.scss",
        "**/*.html",
    )
    protected: tuple[str, ...] = (
        ".github/**",
        "CODEOWNERS",
        "**/CODEOWNERS",
        ".claude/**",
        ".specify/**",
        "AGENTS.md",
        "CLAUDE.md",
        "**/AGENTS.md",  # agents read nested ones too
        "**/CLAUDE.md",
        "**/.claude/**",
        "pyproject.toml",
        "**/pyproject.toml",
        "requirements*.txt",
        "**/requirements*.txt",
        "setup.py",  # at the root only: backend/app/db/setup.py is an ordinary module
        "setup.cfg",
        "**/setup.cfg",
        "Pipfile",
        "**/Pipfile",
        "Pipfile.lock",
        "**/Pipfile.lock",
        "poetry.lock",
        "**/poetry.lock",
        "uv.lock",
        "**/uv.lock",
        "package.json",
        "**/package.json",
        "package-lock.json",
        "**/package-lock.json",
        "pnpm-lock.yaml",
        "yarn.lock",
    )
    header_required: bool = True
    header_globs: tuple[str, ...] = ("**/*.py", "**/*.ts", "**/*.js", "**/*.sql", "**/*.sh")
    owner_columns: tuple[str, ...] = ("user_id", "owner_id")
    rules: frozenset[str] = frozenset(
        {"SK001", "SK002", "SK003", "SK004", "SK005", "SK006", "SK007", "SK008"}
    )


SPEC_DOCUMENTS: tuple[str, ...] = (
    "specs/**",
    "**/specs/**",
    "speckit.*",
    "**/speckit.*",
    ".specify/**",
    "history/**",
)


def for_people(config: RuleConfig) -> RuleConfig:
    """The rules a person's own commits are held to (git hooks, CI).

    People also write the spec-kit documents: approving a task is an edit of its task
    file, and the constitution lives under ``.specify/``. The agent may not touch them.
    """
    protected = tuple(glob for glob in config.protected if glob != ".specify/**")
    return dataclasses.replace(
        config, write_scope=config.write_scope + SPEC_DOCUMENTS, protected=protected
    )


@dataclass(frozen=True, slots=True)
class LintFinding:
    """A rule broken at a place, with what to do about it."""

    rule: str
    severity: Severity
    path: str
    line: int
    message: str
    hint: str = ""

    def sort_key(self) -> tuple[str, int, str, str]:
        """Findings are reported by path, line, rule."""
        return self.path, self.line, self.rule, self.message


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule checks, for reports (SARIF rule metadata, --help)."""

    id: str
    name: str
    summary: str
    help: str
    severity: Severity = Severity.ERROR


RULES: Mapping[str, RuleInfo] = {
    info.id: info
    for info in (
        RuleInfo(
            "SK001",
            "reference-header",
            "Every created or modified file carries the [Task]/[From]/[Description] header.",
            "Add a header block in the file's comment syntax: [Task]: <the task ID>, [From]: "
            "the spec sections it implements (e.g. speckit.plan §2.1), [Description]: one line.",
        ),
        RuleInfo(
            "SK002",
            "write-scope",
            "Every changed path is inside the agent's write scope.",
            "Only change files the agent may write (for backend-engineer: backend/app/**).",
        ),
        RuleInfo(
            "SK003",
            "no-frontend",
            "No frontend code.",
            "The agent writes backend code only; leave frontend files to a frontend task.",
        ),
        RuleInfo(
            "SK004",
            "api-contract",
            "Existing routes keep their contract; new routes appear in the spec's contract.",
            "Do not change a route's method, path, response model or status code; add a route "
            "only if contracts/ or the spec/plan names its endpoint.",
        ),
        RuleInfo(
            "SK005",
            "user-isolation",
            "Queries on user-owned tables filter by the authenticated user.",
            "Filter select() by the owner column (e.g. Task.user_id == current_user.id) and check "
            "ownership before get/update/delete.",
        ),
        RuleInfo(
            "SK006",
            "typed-documented",
            "Public functions have type hints and docstrings.",
            "Annotate every parameter and the return type, and add a docstring.",
            Severity.WARNING,
        ),
        RuleInfo(
            "SK007",
            "no-secrets",
            "No secrets in the diff.",
            "Remove the credential; read it from settings or the environment at run time.",
        ),
        RuleInfo(
            "CHECK",
            "external-check",
            "The repository's own checks (checks.commands) pass, run in the sandbox.",
            "Fix what the command reports; run it locally the same way to reproduce.",
        ),
        RuleInfo(
            "SK008",
            "protected-paths",
            "Protected paths stay untouched.",
            "CI, ownership, agent configuration and dependency manifests need a human change.",
        ),
    )
}
