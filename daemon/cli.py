"""The ``speckitd`` command line. ``main(argv) -> int`` is callable from tests.

Exit codes (one place, :mod:`daemon.errors`): 0 ok, 1 error-severity findings in
the documents, 2 usage or configuration error, 3 a repository or revision that
cannot be read. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from daemon import __version__, hooks, logs, status
from daemon.agent.definitions import harden
from daemon.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
    RepositoryError,
    SpeckitdError,
    UsageError,
    exit_code_for,
)
from daemon.gates.agentfile import read_agent
from daemon.gates.checks import check_findings, run_checks
from daemon.gates.model import RuleConfig
from daemon.gates.report import FORMATS, render
from daemon.gates.sandbox import choose
from daemon.git import Repo
from daemon.inventory import DirectorySource, Inventory, Source, TreeSource
from daemon.lint import lint_change
from daemon.render import findings_text, scan_payload, scan_text, tasks_payload, tasks_text
from daemon.scan import scanner_for
from daemon.service import commands as service_commands
from daemon.settings import Settings, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="speckitd",
        description="Approved spec-kit tasks in, reviewed pull requests out.",
    )
    parser.add_argument("--version", action="version", version=f"speckitd {__version__}")
    parser.add_argument("--config", type=Path, help="settings file (default: $SPECKITD_CONFIG, "
                        "./speckitd.toml, /etc/speckitd/speckitd.toml)")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tasks = commands.add_parser("tasks", help="list every task with its state and references")
    tasks.add_argument(
        "--repo", type=Path, default=Path(), help="repository or folder (default: .)"
    )
    tasks.add_argument("--rev", help="revision to read (default: the watched branch, or HEAD)")
    tasks.add_argument("--json", action="store_true", help="machine-readable output")
    tasks.set_defaults(handler=cmd_tasks)

    scan = commands.add_parser("scan", help="dry run: what would run and why, no side effects")
    scan.add_argument("--repo", type=Path, default=Path(), help="repository (default: .)")
    scan.add_argument("--from", dest="old", help="previous tip (default: scan all history)")
    scan.add_argument("--to", dest="new", help="new tip (default: the watched branch, or HEAD)")
    scan.add_argument("--json", action="store_true", help="machine-readable output")
    scan.set_defaults(handler=cmd_scan)

    lint_cmd = commands.add_parser("lint", help="check a change against the agent's rules")
    lint_cmd.add_argument("--repo", type=Path, default=Path(), help="repository (default: .)")
    lint_cmd.add_argument("--base", help="base revision (default: the merge base with the "
                          "watched branch, or HEAD with --staged)")  # fmt: skip
    heads = lint_cmd.add_mutually_exclusive_group()
    heads.add_argument("--head", help="head revision (default: HEAD)")
    heads.add_argument("--staged", action="store_true", help="check the index (a pre-commit)")
    lint_cmd.add_argument("--task", action="append", default=[], metavar="ID",
                          help="the task being implemented (repeatable)")  # fmt: skip
    lint_cmd.add_argument("--format", choices=FORMATS, default="text", help="output format")
    lint_cmd.add_argument("--agent", type=Path, help="agent file whose rules apply "
                          "(default: the backend-engineer rules)")  # fmt: skip
    lint_cmd.add_argument("--checks", action="store_true", help="also run checks.commands "
                          "on the working tree, in the sandbox (checks.sandbox)")  # fmt: skip
    lint_cmd.set_defaults(handler=cmd_lint)
    hooks.register(commands)
    status.register(commands)
    service_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse reports usage errors (2) and --help/--version (0)
        return stop.code if isinstance(stop.code, int) else EXIT_OK
    logs.configure(level=logging.INFO if args.verbose else logging.ERROR)
    try:
        settings = load_settings(args.config)
        handler: Handler = args.handler
        return handler(args, settings)
    except SpeckitdError as error:
        print(f"speckitd: error: {error}", file=sys.stderr)
        return exit_code_for(error)
    except BrokenPipeError:
        # The reader went away (``speckitd ... | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _branch_for(settings: Settings, root: Path) -> str | None:
    target = root.resolve()
    for repo in settings.repos:
        if Path(repo.path).expanduser().resolve() == target:
            return repo.branch
    return None


def _open(root: Path, settings: Settings) -> Repo | None:
    try:
        return Repo(root, tuple(settings.spec.task_files))
    except RepositoryError:
        return None


def _default_rev(settings: Settings, root: Path) -> str:
    return _branch_for(settings, root) or "HEAD"


def cmd_tasks(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd tasks``: every task with its state, place and references."""
    root: Path = args.repo
    repo = _open(root, settings)
    source: Source
    if repo is not None:
        rev = args.rev or _default_rev(settings, root)
        commit = repo.resolve(rev)
        approvals = scanner_for(repo, settings).state_at(commit).approvals
        source = TreeSource(repo, repo.tree_of(commit))
    else:
        if args.rev:
            raise UsageError(f"{root}: --rev needs a git repository (this is not one)")
        if not root.is_dir():
            raise UsageError(f"{root}: no such directory")
        rev, commit, approvals = None, None, None
        source = DirectorySource(root, tuple(settings.spec.task_files))
    inventory = Inventory(source, settings.spec.max_file_bytes)
    documents = [inventory.documents(parsed) for parsed in inventory.files()]
    payload = tasks_payload(
        repo=str(root), rev=rev, commit=commit, documents=documents, approvals=approvals
    )
    return _emit(payload, tasks_text, json_out=args.json)


def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd scan``: what would run between two tips, and why."""
    root: Path = args.repo
    repo = Repo(root, tuple(settings.spec.task_files))
    new = repo.resolve(args.new or _default_rev(settings, root))
    old = repo.resolve(args.old) if args.old else None
    progress = _progress(sys.stderr) if sys.stderr.isatty() else None
    report = scanner_for(repo, settings).scan(new, old, progress)
    return _emit(scan_payload(str(root), report), scan_text, json_out=args.json)


def cmd_lint(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd lint``: exit 0 when clean, 1 on findings, 2 on a usage or settings error."""
    root: Path = args.repo
    config = harden(RuleConfig())  # as strict as the daemon's own gates
    if args.agent is not None:
        try:
            agent = read_agent(args.agent.read_text(encoding="utf-8"), str(args.agent))
            config = harden(agent.rules)
        except OSError as error:
            raise UsageError(
                f"{args.agent}: cannot read the agent file ({error.strerror})"
            ) from error
    try:
        repo = Repo(root, tuple(settings.spec.task_files))
        head = None if args.staged else repo.resolve(args.head or "HEAD")
        base = repo.resolve(args.base) if args.base else _lint_base(repo, settings, root, head)
    except RepositoryError as error:
        raise UsageError(str(error)) from error
    findings = lint_change(repo, base=base, head=head, task_ids=tuple(args.task), config=config)
    if args.checks:
        sandbox = choose(settings.checks.sandbox)
        timeout = float(settings.checks.timeout_seconds)
        runs = run_checks(
            settings.checks.commands, worktree=root.resolve(), sandbox=sandbox, timeout=timeout
        )
        findings += check_findings(runs, timeout)
    print(render(findings, args.format, tool_version=__version__, root=str(root.resolve())))
    return EXIT_FINDINGS if findings else EXIT_OK


def _lint_base(repo: Repo, settings: Settings, root: Path, head: str | None) -> str | None:
    """What a change is measured against when ``--base`` is not given.

    Staged: HEAD (nothing on a first commit). Otherwise the merge base with the
    watched branch, or the head's parent when the head is on that branch.
    """
    if head is None:
        try:
            return repo.resolve("HEAD")
        except RepositoryError:
            return None
    try:
        branch = repo.resolve(_branch_for(settings, root) or "main")
    except RepositoryError:
        branch = None
    base = repo.merge_base(head, branch) if branch else None
    return repo.first_parent(head) if base in {None, head} else base


def _emit(payload: dict[str, Any], text: Callable[[dict[str, Any]], str], *, json_out: bool) -> int:
    if json_out:
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(text(payload))
        if payload["findings"]:
            print(findings_text(payload["findings"]), file=sys.stderr)
    errors = [f for f in payload["findings"] if f["severity"] == "error"]
    return EXIT_FINDINGS if errors else EXIT_OK


def _progress(stream: TextIO) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\rscanning commits: {done}/{total}", end=end, file=stream, flush=True)

    return report
