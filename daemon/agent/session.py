"""Setting up one run: the task, its documents, the agent and the prompt, read from git.

Everything the model sees comes from the **watched branch** (``tree``): the task
block, the spec documents and the repository's ``.claude/agents/`` — never from the
task branch the agent writes on. The worktree only provides the file tree the agent
may write to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.agent import definitions, tools
from daemon.agent.budget import Limits, Prices
from daemon.agent.context import Document, build_context, system_blocks
from daemon.agent.definitions import Agent, Route
from daemon.agent.runner import RunSpec
from daemon.agent.workspace import Workspace
from daemon.errors import ConfigError, SpeckitdError
from daemon.git import Repo
from daemon.lint import read_documents
from daemon.settings import Settings
from daemon.spec.ids import task_key
from daemon.spec.model import Task
from daemon.spec.sections import index_sections
from daemon.spec.tasks import parse_tasks


class TaskNotFoundError(SpeckitdError):
    """The task to run is not in the watched branch's task files."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run ready to start: the task, its agent, the tools' workspace and the spec."""

    task: Task
    task_path: str
    agent: Agent
    workspace: Workspace
    spec: RunSpec
    omitted: tuple[str, ...]
    unresolved: tuple[str, ...]


def find_task(repo: Repo, tree: str, task: str) -> tuple[Task, str, str]:
    """The task with ID or key ``task``, the path of its task file, and the file's text."""
    key = task_key(task)
    for path, entry in sorted(repo.task_files(tree).items()):
        if not entry.regular:
            continue
        data = repo.blob(entry.blob)
        found = parse_tasks(data, path, only={key}).task(key)
        if found is not None:
            return found, path, data.decode("utf-8", errors="replace")
    raise TaskNotFoundError(f"task {task} is not in any task file of the watched branch")


def documents(repo: Repo, tree: str, task_path: str) -> dict[str, Document]:
    """The task's feature documents (spec, plan, constitution, contracts, ...)."""
    return {
        kind: Document(
            kind, path, data.decode("utf-8", errors="replace"), index_sections(data, path)
        )
        for kind, (path, data) in read_documents(repo, tree, task_path).items()
    }


def agent_sources(repo: Repo, tree: str, extra_dir: Path | None) -> list[tuple[str, bytes]]:
    """Agent files in precedence order: built-in, configured folder, the repository's."""
    sources: list[tuple[str, bytes]] = []
    for folder in (definitions.BUILTIN_DIR, extra_dir):
        if folder is None or not folder.is_dir():
            continue
        sources.extend((str(file), file.read_bytes()) for file in sorted(folder.glob("*.md")))
    for path in definitions.repo_agent_paths(repo.paths(tree)):
        data = repo.read(tree, path)
        if data is not None:
            sources.append((path, data))
    return sources


def prepare(
    settings: Settings,
    *,
    repo: Repo,
    tree: str,
    task: str,
    worktree: Path,
    agents_dir: Path | None = None,
    answer: str | None = None,
) -> Prepared:
    """Read the task, choose its agent, and build the prompt and limits of its run.

    ``answer`` is an approver's reply to an earlier clarification issue of this task.
    """
    found, task_path, task_text = find_task(repo, tree, task)
    routes: Sequence[Route] = [
        Route(r.agent, tuple(r.paths), tuple(r.tags)) for r in settings.agent.routes
    ]
    name = definitions.route(found, routes, settings.agent.default)
    agent = definitions.select(
        definitions.read_sources(agent_sources(repo, tree, agents_dir)),
        name,
        aliases=settings.anthropic.models,
        default_model=settings.agent.model,
    )
    price = settings.anthropic.prices.get(agent.model)
    if price is None:
        raise ConfigError(
            f"no price for model {agent.model!r}: add [anthropic.prices.{agent.model!r}] "
            "so the cost budget can be enforced"
        )
    rules = agent.rules
    workspace = Workspace(
        worktree, write_scope=rules.write_scope, protected=rules.protected + rules.forbidden
    )
    prompt = build_context(
        found,
        task_path,
        task_text,
        documents(repo, tree, task_path),
        workspace.files(rules.write_scope),
        max_bytes=settings.agent.context_bytes,
        answer=answer,
    )
    spec = RunSpec(
        task_id=found.id,
        model=agent.model,
        system=system_blocks(agent.prompt, rules.write_scope),
        context=prompt.context,
        tools=tuple(tools.definitions(agent.abilities)),
        abilities=agent.abilities,
        limits=Limits(
            max_turns=settings.agent.max_turns,
            max_tokens=settings.agent.max_tokens,
            max_cost_usd=settings.agent.max_cost_usd,
            max_seconds=settings.agent.max_minutes * 60.0,
        ),
        prices=Prices(price.input, price.output, price.cache_write, price.cache_read),
        max_output_tokens=settings.agent.max_output_tokens,
        repair_rounds=settings.agent.repair_rounds,
        request_timeout=settings.anthropic.request_timeout_seconds,
    )
    return Prepared(found, task_path, agent, workspace, spec, prompt.omitted, prompt.unresolved)
