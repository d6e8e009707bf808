"""Agent definitions (DESIGN §5): Claude Code subagent files, routing, and model aliases. Pure.

Agents come from the built-in folder (the shipped backend-engineer), an optional
configured folder, and the target repository's ``.claude/agents/`` at the watched
branch: later sources win by name, as project agents win in Claude Code. A task
goes to the first ``[[agent.routes]]`` entry naming one of its paths or tags, or
else to ``agent.default``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from daemon.errors import ConfigError
from daemon.gates.agentfile import AgentFile, read_agent
from daemon.gates.model import RuleConfig
from daemon.globs import matches
from daemon.spec.model import Task

BUILTIN_DIR: Final = Path(__file__).parent.parent / "agents"  # the shipped agents
REPO_AGENTS: Final = ".claude/agents/"
MAX_AGENT_BYTES: Final = 256 * 1024

# Claude Code tool names an agent file may list, mapped onto the runner's tools.
_TOOL_NAMES: Final[Mapping[str, frozenset[str]]] = {
    "read": frozenset({"view"}),
    "grep": frozenset({"search_code"}),
    "glob": frozenset({"search_code"}),
    "ls": frozenset({"view"}),
    "edit": frozenset({"edit"}),
    "multiedit": frozenset({"edit"}),
    "write": frozenset({"edit"}),
    "bash": frozenset({"run_checks"}),
    "str_replace_based_edit_tool": frozenset({"view", "edit"}),
    "search_code": frozenset({"search_code"}),
    "run_checks": frozenset({"run_checks"}),
}
ALL_ABILITIES: Final = frozenset({"view", "edit", "search_code", "run_checks"})


@dataclass(frozen=True, slots=True)
class Route:
    """Tasks naming a path matching ``paths``, or tagged with one of ``tags``, go to ``agent``."""

    agent: str
    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent ready to run: prompt, model id, what its tools may do, and its gate rules."""

    name: str
    description: str
    model: str
    prompt: str
    rules: RuleConfig
    abilities: frozenset[str]
    source: str


# Paths no agent may write and rules no agent file may turn off: the repository's own
# agent files must not be able to unlock CI, ownership or agent configuration.
PROTECTED_FLOOR: Final = (
    ".github/**",
    "CODEOWNERS",
    "**/CODEOWNERS",
    ".claude/**",
    ".specify/**",
    "AGENTS.md",
    "CLAUDE.md",
    "**/AGENTS.md",
    "**/CLAUDE.md",
    "**/.claude/**",
    ".gitattributes",
    "**/.gitattributes",
    ".gitmodules",
)
CORE_RULES: Final = frozenset({"SK002", "SK007", "SK008"})


@dataclass(frozen=True, slots=True)
class Sourced:
    """An agent file, where it was read from, and the gate rules it runs under.

    A repository's own agent file (``.claude/agents/``) may set the prompt, model
    and tools, but not its rules: those of the operator's agent of the same name
    apply, or the defaults. Every agent gets the protected floor and core rules.
    """

    file: AgentFile
    where: str
    rules: RuleConfig


def harden(rules: RuleConfig) -> RuleConfig:
    """``rules`` with the protected floor and the core rules added."""
    protected = tuple(dict.fromkeys((*rules.protected, *PROTECTED_FLOOR)))
    return replace(rules, protected=protected, rules=rules.rules | CORE_RULES)


def read_sources(sources: Iterable[tuple[str, bytes]]) -> dict[str, Sourced]:
    """Agent files by name; a later source with the same name replaces an earlier one."""
    agents: dict[str, Sourced] = {}
    for where, data in sources:
        if len(data) > MAX_AGENT_BYTES:
            raise ConfigError(f"{where}: agent file larger than {MAX_AGENT_BYTES} bytes")
        agent = read_agent(data.decode("utf-8", errors="replace"), where)
        if where.startswith(REPO_AGENTS):
            earlier = agents.get(agent.name)
            rules = earlier.rules if earlier is not None else RuleConfig()
        else:
            rules = agent.rules
        agents[agent.name] = Sourced(agent, where, harden(rules))
    return agents


def repo_agent_paths(paths: Iterable[str]) -> list[str]:
    """The repository's agent files: ``.claude/agents/*.md``, not in subfolders."""
    return sorted(
        path
        for path in paths
        if path.startswith(REPO_AGENTS)
        and path.endswith(".md")
        and posixpath.dirname(path) == REPO_AGENTS.rstrip("/")
    )


def route(task: Task, routes: Sequence[Route], default: str) -> str:
    """The name of the agent that implements ``task``."""
    tags = {tag.lower() for tag in task.tags}
    for entry in routes:
        if any(tag.lower() in tags for tag in entry.tags):
            return entry.agent
        if entry.paths and any(matches(path, entry.paths) for path in task.paths):
            return entry.agent
    return default


def model_id(requested: str | None, aliases: Mapping[str, str], default: str) -> str:
    """The model id for an agent's ``model:`` (an alias, ``inherit``, an id, or absent)."""
    wanted = (requested or "inherit").strip()
    if wanted == "inherit":
        wanted = default
    return aliases.get(wanted, wanted)


def abilities(tools: object) -> frozenset[str]:
    """What the runner's tools may do for an agent whose front matter lists ``tools``."""
    if tools is None or tools == "":
        return ALL_ABILITIES
    names = tools.split(",") if isinstance(tools, str) else tools
    if not isinstance(names, list):
        raise ConfigError(f"tools must be a list or a comma-separated string, not {tools!r}")
    found: set[str] = set()
    for name in names:
        found |= _TOOL_NAMES.get(str(name).strip().lower(), frozenset())
    return frozenset(found)


def select(
    agents: Mapping[str, Sourced],
    name: str,
    *,
    aliases: Mapping[str, str],
    default_model: str,
) -> Agent:
    """The agent called ``name``, resolved to something the runner can use."""
    sourced = agents.get(name)
    if sourced is None:
        known = ", ".join(sorted(agents)) or "none"
        raise ConfigError(f"no agent named {name!r} (known agents: {known})")
    found = sourced.file
    front = found.front
    requested = front.get("model")
    description = front.get("description")
    return Agent(
        name=found.name,
        description=description if isinstance(description, str) else "",
        model=model_id(requested if isinstance(requested, str) else None, aliases, default_model),
        prompt=found.body,
        rules=sourced.rules,
        abilities=abilities(front.get("tools")),
        source=sourced.where,
    )
