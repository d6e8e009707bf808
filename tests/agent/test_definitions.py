"""Agent definitions: sources by precedence, routing, model aliases and tool abilities."""

from __future__ import annotations

import pytest

from daemon.agent.definitions import (
    ALL_ABILITIES,
    BUILTIN_DIR,
    MAX_AGENT_BYTES,
    Route,
    abilities,
    harden,
    model_id,
    read_sources,
    repo_agent_paths,
    route,
    select,
)
from daemon.errors import ConfigError
from daemon.gates.model import RuleConfig
from daemon.settings import DEFAULT_MODELS
from daemon.spec.model import Task
from daemon.spec.tasks import parse_tasks

TASKS = """\
# Tasks

- [ ] T001 [US2] Add the service in backend/app/services/tasks.py
- [ ] T002 [P] [Frontend] Add the page in frontend/src/page.tsx
- [ ] T003 Add the model in backend/app/models.py and docs/models.md
- [ ] T004 Write the release notes
"""


def agent_file(name: str, body: str = "You implement tasks.", **front: str) -> bytes:
    """A Claude Code subagent file with ``name`` and extra front matter lines."""
    lines = [f"name: {name}", *(f"{key}: {value}" for key, value in front.items())]
    return ("---\n" + "\n".join(lines) + "\n---\n\n" + body + "\n").encode()


def task(task_id: str) -> Task:
    (found,) = [t for t in parse_tasks(TASKS.encode(), "tasks.md").tasks if t.id == task_id]
    return found


def test_later_source_wins_by_name():
    """An agent defined again by a later source replaces the earlier one, as in Claude Code."""
    agents = read_sources(
        [
            ("builtin/a.md", agent_file("alpha", "built-in prompt")),
            ("builtin/b.md", agent_file("beta", "beta prompt")),
            (".claude/agents/a.md", agent_file("alpha", "project prompt")),
        ]
    )
    assert sorted(agents) == ["alpha", "beta"]
    assert agents["alpha"].where == ".claude/agents/a.md"
    assert agents["alpha"].file.body == "project prompt"
    assert agents["beta"].where == "builtin/b.md"


def test_oversize_agent_file_is_a_config_error():
    """A file over the size limit is refused, naming the file."""
    data = agent_file("big", "x" * MAX_AGENT_BYTES)
    assert len(data) > MAX_AGENT_BYTES
    with pytest.raises(ConfigError, match=r"^huge\.md: agent file larger than 262144 bytes$"):
        read_sources([("huge.md", data)])


def test_agent_file_at_the_size_limit_is_read():
    """A file of exactly the size limit is still read."""
    head = agent_file("edge", "")
    data = head + b"x" * (MAX_AGENT_BYTES - len(head))
    assert len(data) == MAX_AGENT_BYTES
    assert list(read_sources([("edge.md", data)])) == ["edge"]


def test_repo_agent_paths_are_only_direct_markdown_children():
    """Only ``.claude/agents/*.md`` counts: no subfolders, other suffixes or other roots."""
    paths = [
        ".claude/agents/zeta.md",
        ".claude/agents/sub/nested.md",
        ".claude/agents/notes.txt",
        ".claude/agents.md",
        ".claude/commands/cmd.md",
        "docs/.claude/agents/elsewhere.md",
        ".claude/agents/alpha.md",
        "README.md",
    ]
    assert repo_agent_paths(paths) == [".claude/agents/alpha.md", ".claude/agents/zeta.md"]


ROUTES = (
    Route("frontend", tags=("frontend",)),
    Route("stories", tags=("us2",)),
    Route("models", paths=("backend/app/models.py",)),
    Route("docs", paths=("docs/**",)),
    Route("backend", paths=("backend/**",)),
)


@pytest.mark.parametrize(
    ("task_id", "agent"),
    [
        ("T001", "stories"),  # tag US2, case-insensitive; earlier than the backend glob
        ("T002", "frontend"),  # tag Frontend against "frontend"
        ("T003", "models"),  # the first route matching one of its paths
        ("T004", "default-agent"),  # nothing matches
    ],
)
def test_route_picks_the_first_matching_entry(task_id, agent):
    """A task goes to the first route naming one of its tags or paths, else to the default."""
    assert route(task(task_id), ROUTES, "default-agent") == agent


def test_route_without_routes_is_the_default():
    """No routes: every task goes to the default agent."""
    assert route(task("T001"), (), "backend-engineer") == "backend-engineer"


@pytest.mark.parametrize(
    ("requested", "default", "expected"),
    [
        ("sonnet", "opus", "claude-sonnet-5-5"),
        ("  haiku ", "opus", "claude-haiku-5-5"),
        ("inherit", "opus", "claude-opus-5-5"),
        (None, "sonnet", "claude-sonnet-5-5"),
        ("", "haiku", "claude-haiku-5-5"),
        ("inherit", "claude-custom-1", "claude-custom-1"),
        ("claude-sonnet-4-5-20250929", "opus", "claude-sonnet-4-5-20250929"),
    ],
)
def test_model_id_resolves_aliases(requested, default, expected):
    """Aliases map to ids, inherit and absence take the default, full ids pass through."""
    assert model_id(requested, DEFAULT_MODELS, default) == expected


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        (None, ALL_ABILITIES),
        ("", ALL_ABILITIES),
        ("Read, Grep", {"view", "search_code"}),
        ("Glob,LS", {"view", "search_code"}),
        (["Edit", "Bash"], {"edit", "run_checks"}),
        ("Write, MultiEdit", {"edit"}),
        ("str_replace_based_edit_tool", {"view", "edit"}),
        ("search_code, run_checks", {"search_code", "run_checks"}),
        ("WebFetch, Task", set()),
        ([], set()),
    ],
)
def test_abilities_map_claude_code_tool_names(tools, expected):
    """Claude Code tool names become runner abilities; none listed means all; unknown, none."""
    assert abilities(tools) == frozenset(expected)


@pytest.mark.parametrize("tools", [42, {"Read": True}, True])
def test_abilities_of_a_bad_type_is_a_config_error(tools):
    """Tools that are neither a list nor a string are refused."""
    with pytest.raises(ConfigError, match="tools must be a list or a comma-separated string"):
        abilities(tools)


def test_select_unknown_agent_lists_the_known_ones():
    """Asking for an agent nobody defined names the agents there are."""
    agents = read_sources([("a.md", agent_file("zeta")), ("b.md", agent_file("alpha"))])
    with pytest.raises(
        ConfigError, match=r"^no agent named 'ghost' \(known agents: alpha, zeta\)$"
    ):
        select(agents, "ghost", aliases=DEFAULT_MODELS, default_model="sonnet")
    with pytest.raises(ConfigError, match=r"known agents: none\)$"):
        select({}, "ghost", aliases=DEFAULT_MODELS, default_model="sonnet")


def test_select_resolves_front_matter():
    """Description, model alias and tools of the front matter become the agent's values."""
    data = agent_file(
        "reviewer", "Review carefully.", description="Reads code", model="haiku", tools="Read, Grep"
    )
    agent = select(
        read_sources([("r.md", data)]), "reviewer", aliases=DEFAULT_MODELS, default_model="opus"
    )
    assert agent.name == "reviewer"
    assert agent.description == "Reads code"
    assert agent.model == "claude-haiku-5-5"
    assert agent.prompt == "Review carefully."
    assert agent.abilities == frozenset({"view", "search_code"})
    assert agent.source == "r.md"
    assert agent.rules == harden(RuleConfig())


def test_select_without_model_inherits_the_default():
    """No ``model:`` line: the configured default model, through the aliases."""
    agents = read_sources([("p.md", agent_file("plain"))])
    agent = select(agents, "plain", aliases=DEFAULT_MODELS, default_model="opus")
    assert agent.model == "claude-opus-5-5"
    assert agent.description == ""
    assert agent.abilities == ALL_ABILITIES


def test_builtin_backend_engineer_loads():
    """The shipped backend-engineer resolves to the sonnet id, all abilities and default rules."""
    files = sorted(BUILTIN_DIR.glob("*.md"))
    agents = read_sources((str(path), path.read_bytes()) for path in files)
    agent = select(agents, "backend-engineer", aliases=DEFAULT_MODELS, default_model="opus")
    assert agent.model == DEFAULT_MODELS["sonnet"]
    assert agent.rules == harden(RuleConfig())
    assert agent.abilities == ALL_ABILITIES
    assert agent.source == str(BUILTIN_DIR / "backend-engineer.md")
    assert agent.prompt.startswith("You are an expert Backend Engineer")
    assert agent.description.startswith("Use this agent when implementing FastAPI backend code")


def test_a_repository_agent_cannot_loosen_its_rules():
    """A .claude/agents file's speckitd block is ignored: the operator's rules apply."""
    operator = agent_file("backend-engineer", "Operator prompt.")
    loose = (
        b"---\nname: backend-engineer\nspeckitd:\n  write_scope: ['**']\n  protected: []\n"
        b"  rules: [SK001]\n---\nRepository prompt.\n"
    )
    agents = read_sources([("ops/backend-engineer.md", operator), (".claude/agents/b.md", loose)])
    agent = select(agents, "backend-engineer", aliases=DEFAULT_MODELS, default_model="sonnet")
    assert agent.prompt == "Repository prompt."
    assert agent.rules.write_scope == RuleConfig().write_scope
    assert ".github/**" in agent.rules.protected
    assert {"SK002", "SK007", "SK008"} <= agent.rules.rules


def test_every_agent_keeps_the_protected_floor_and_core_rules():
    """An operator's agent that protects less still protects CI and agent files."""
    data = (
        b"---\nname: wide\nspeckitd:\n  protected: [pyproject.toml]\n  rules: [SK001]\n---\nBody.\n"
    )
    agent = select(read_sources([("w.md", data)]), "wide", aliases={}, default_model="m")
    assert {".github/**", ".claude/**", "pyproject.toml"} <= set(agent.rules.protected)
    assert agent.rules.rules == frozenset({"SK001", "SK002", "SK007", "SK008"})
