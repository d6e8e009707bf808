"""Git hooks for ``speckitd lint``: ``speckitd hook NAME`` and ``speckitd init --hooks``.

``init --hooks`` installs shims that run ``<python> -P -m daemon hook <name> "$@"``
(``-P``: a ``daemon/`` folder in the repository being committed to must not shadow
the package). The hooks:

- pre-commit lints what is being committed against HEAD (nothing on a first
  commit); merge commits are left to pre-push, which sees the branch as a whole;
- pre-push lints each pushed ref against what the remote has, or against the
  watched branch for a new branch or one rebased on or merged with it;
- commit-msg checks that every ``Approved-Tasks:`` item names exactly one open task
  in what is being committed.

git runs hooks at the top of the work tree with ``GIT_INDEX_FILE`` naming the
index being committed. For ``git commit -a`` or ``git commit PATH`` that is a
temporary index, not ``.git/index``, so the repository is opened on that file.
Under the pre-commit framework a pre-push hook gets no stdin; the range comes from
``PRE_COMMIT_FROM_REF`` and ``PRE_COMMIT_TO_REF`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, TextIO

from daemon import __version__
from daemon.errors import EXIT_FINDINGS, EXIT_OK, RepositoryError, UsageError
from daemon.gates.model import RuleConfig, for_people
from daemon.gates.report import render
from daemon.git import Repo, hooks_dir
from daemon.hookinput import check_items, clean_message, framework_updates, is_zero, parse_updates
from daemon.lint import lint_change
from daemon.settings import Settings
from daemon.spec.tasks import parse_cores
from daemon.trailers import approvals

__all__ = [
    "BACKUP_SUFFIX",
    "HOOKS",
    "MARKER",
    "commit_msg",
    "install_hooks",
    "pre_commit",
    "pre_push",
    "push_base",
    "register",
    "shim",
]

HOOKS: Final = ("pre-commit", "pre-push", "commit-msg")
MARKER: Final = "# installed by speckitd"
BACKUP_SUFFIX: Final = ".pre-speckitd"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hook`` and ``init`` to the ``speckitd`` command parser."""
    hook = commands.add_parser("hook", help="run a git hook (called by the installed hooks)")
    hook.add_argument("--repo", type=Path, default=Path(), help="repository (default: .)")
    names = hook.add_subparsers(dest="hook", required=True, metavar="HOOK")
    names.add_parser("pre-commit", help="lint the staged change against HEAD").set_defaults(
        handler=cmd_pre_commit
    )
    push = names.add_parser("pre-push", help="lint the pushed commits (git's ref lines on stdin)")
    push.add_argument("remote", nargs="?", help="the remote's name (unused)")
    push.add_argument("url", nargs="?", help="the remote's URL (unused)")
    push.set_defaults(handler=cmd_pre_push)
    msg = names.add_parser("commit-msg", help="check the message's Approved-Tasks trailer")
    msg.add_argument("message_file", type=Path, help="the file holding the commit message")
    msg.set_defaults(handler=cmd_commit_msg)

    init = commands.add_parser("init", help="set up a repository for speckitd")
    init.add_argument("--repo", type=Path, default=Path(), help="repository (default: .)")
    init.add_argument(
        "--hooks",
        action="store_true",
        help=f"install the git hooks: {', '.join(HOOKS)} (exit 1 if a hook not ours was kept)",
    )
    init.add_argument(
        "--force",
        action="store_true",
        help=f"replace hooks speckitd did not install, keeping each as <name>{BACKUP_SUFFIX}",
    )
    init.add_argument(
        "--config",
        dest="write_config",
        type=Path,
        metavar="PATH",
        help="write a starting speckitd.toml for this repository at PATH (never overwritten)",
    )
    init.set_defaults(handler=cmd_init)


def pre_push(
    repo: Repo,
    stream: TextIO,
    *,
    watched: Sequence[str],
    environ: Mapping[str, str],
    out: TextIO,
) -> int:
    """Lint every pushed ref read from ``stream``; 1 if any has findings, else 0.

    Deletions are skipped; ``watched`` lists the watched-branch candidates, the
    first that resolves counts (see :func:`push_base`).
    """
    if stream.isatty():
        raise UsageError("pre-push: expects git's '<ref> <sha> <ref> <sha>' lines on stdin")
    try:
        updates = parse_updates(stream.read()) or framework_updates(environ)
    except UnicodeDecodeError as error:
        raise UsageError(f"pre-push: stdin is not text ({error.reason})") from error
    branch = next((sha for name in watched if (sha := _resolve(repo, name))), None)
    status = EXIT_OK
    for update in updates:
        if is_zero(update.local_sha):
            continue
        head = _resolve(repo, update.local_sha)
        if head is None:
            print(f"speckitd: {update.local_ref}: not a commit here, not linted", file=out)
            continue
        remote = None if is_zero(update.remote_sha) else _resolve(repo, update.remote_sha)
        base = push_base(repo, head, remote=remote, branch=branch)
        findings = lint_change(
            repo, base=base, head=head, task_ids=(), config=for_people(RuleConfig())
        )
        span = f"{base[:12]}..{head[:12]}" if base else f"whole commit {head[:12]}"
        print(f"speckitd: {update.local_ref} ({span})", file=out)
        print(render(findings, "text", tool_version=__version__), file=out)
        status = EXIT_FINDINGS if findings else status
    return status


def push_base(repo: Repo, head: str, *, remote: str | None, branch: str | None) -> str | None:
    """What a pushed commit ``head`` is linted against.

    Where it forked from what the remote has (``remote``), unless its fork point
    from the watched ``branch`` is later, or the two diverged (the pushed branch
    was rebased on, or merged with, the watched branch): then that fork point. A
    commit on the watched branch, new to the remote, has nothing new (itself).
    None when there is neither: the whole commit is linted.
    """
    ours = repo.merge_base(remote, head) if remote else None
    forked = repo.merge_base(branch, head) if branch else None
    if ours and forked and forked != head:
        return ours if repo.merge_base(ours, forked) == forked else forked
    return ours or forked


def shim(name: str, python: str) -> str:
    """The script ``init --hooks`` installs as hook ``name``, run by ``python``."""
    return (
        f"#!/bin/sh\n{MARKER}\n# Re-run `speckitd init --hooks` to update this file.\n"
        f'exec {shlex.quote(python)} -P -m daemon hook {name} "$@"\n'
    )


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # a directory, a dangling symlink, no permission
        return None


def _ours(path: Path) -> bool:
    return MARKER in (_text(path) or "").splitlines()


def install_hooks(directory: Path, python: str, *, force: bool, out: TextIO) -> int:
    """Install every hook in ``directory``; 1 if a hook speckitd did not write was kept."""
    directory.mkdir(parents=True, exist_ok=True)
    status = EXIT_OK
    for name in HOOKS:
        target, text = directory / name, shim(name, python)
        present = target.exists() or target.is_symlink()
        if present and not _ours(target):
            backup = target.with_name(name + BACKUP_SUFFIX)
            if not force or backup.exists() or backup.is_symlink():
                why = f"backup {backup} exists" if force else "use --force to replace it"
                print(f"kept {target}: not installed by speckitd ({why})", file=out)
                status = EXIT_FINDINGS
                continue
            target.rename(backup)  # moves a symlink itself, never what it points to
            print(f"moved {target} to {backup}", file=out)
            present = False
        elif present and _text(target) == text and os.access(target, os.X_OK):
            print(f"unchanged {target}", file=out)
            continue
        partial = directory / f".{name}.speckitd-new"
        partial.write_text(text, encoding="utf-8")
        partial.chmod(0o755)
        partial.replace(target)  # replaces a symlink, never writes through it
        print(f"{'updated' if present else 'installed'} {target}", file=out)
    return status


def _resolve(repo: Repo, rev: str) -> str | None:
    try:
        return repo.resolve(rev)
    except RepositoryError:
        return None


def pre_commit(repo: Repo, *, out: TextIO) -> int:
    """Lint what is being committed (the repository's index) against HEAD; 1 on findings."""
    if (Path(repo.git_dir) / "MERGE_HEAD").exists():
        print("speckitd: a merge commit: not linted here (pre-push lints the branch)", file=out)
        return EXIT_OK
    base = _resolve(repo, "HEAD")
    findings = lint_change(repo, base=base, head=None, task_ids=(), config=for_people(RuleConfig()))
    print(render(findings, "text", tool_version=__version__), file=out)
    return EXIT_FINDINGS if findings else EXIT_OK


def commit_msg(repo: Repo, message_file: Path, *, max_bytes: int) -> list[str]:
    """The problems of the message's ``Approved-Tasks`` items (see :func:`check_items`).

    A near miss (``Approved-Task: T001``) is one too: it would approve nothing.

    Tasks are read from what is being committed, else from HEAD.
    """
    try:
        text = message_file.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        raise UsageError(
            f"commit-msg: cannot read the message file {message_file} ({error.strerror})"
        ) from error
    items, unread = approvals(clean_message(text))
    near = [f"{written}: {why}" for written, why in unread]
    if not items:
        return near
    try:
        tree: str | None = repo.index_tree()
    except RepositoryError:  # an index git could not commit either: read HEAD
        head = _resolve(repo, "HEAD")
        tree = repo.tree_of(head) if head else None
    files = {
        path: parse_cores(repo.blob(entry.blob), path, max_bytes=max_bytes)
        for path, entry in (repo.task_files(tree) if tree else {}).items()
        if entry.regular
    }
    return near + check_items(items, files)


def _open(
    args: argparse.Namespace, settings: Settings, environ: Mapping[str, str] | None = None
) -> Repo:
    """The repository, read through the index git is committing from (``GIT_INDEX_FILE``)."""
    globs = tuple(settings.spec.task_files)
    repo = Repo(args.repo, globs)
    named = (environ or {}).get("GIT_INDEX_FILE")
    if not named:
        return repo
    index = (args.repo / named).resolve()
    if index == (Path(repo.git_dir) / "index").resolve():
        return repo
    return Repo(args.repo, globs, index_file=str(index))


def cmd_pre_commit(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd hook pre-commit``: lint the staged change."""
    return pre_commit(_open(args, settings, os.environ), out=sys.stdout)


def cmd_pre_push(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd hook pre-push REMOTE URL``: lint the pushed refs git lists on stdin."""
    target = args.repo.resolve()
    configured = [r.branch for r in settings.repos if r.path.expanduser().resolve() == target]
    watched = list(dict.fromkeys([*configured, "main", "origin/HEAD"]))
    repo = _open(args, settings)
    return pre_push(repo, sys.stdin, watched=watched, environ=os.environ, out=sys.stdout)


def cmd_commit_msg(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd hook commit-msg FILE``: check the ``Approved-Tasks`` trailer."""
    repo = _open(args, settings, os.environ)
    problems = commit_msg(repo, args.message_file, max_bytes=settings.spec.max_file_bytes)
    for problem in problems:
        print(problem)
    return EXIT_FINDINGS if problems else EXIT_OK


def starting_config(repo: Path, branch: str, name: str) -> str:
    """A small speckitd.toml watching ``repo`` (config/speckitd.toml documents every key)."""
    return (
        "# speckitd settings; every key is documented in config/speckitd.toml of speckitd.\n"
        "[daemon]\n"
        'state_dir = "~/.local/state/speckitd"\n'
        'http = "127.0.0.1:8787"\n\n'
        "[[repos]]\n"
        f"name = {json.dumps(name)}\n"
        f"path = {json.dumps(str(repo))}\n"
        f"branch = {json.dumps(branch)}\n\n"
        "[approval]\n"
        "approvers = []        # emails or forge logins; empty: anyone who can push\n\n"
        "[forge]\n"
        'kind = "local"        # or "github" with [forge.github]\n\n'
        "[anthropic]\n"
        "# api_key: set SPECKITD_ANTHROPIC__API_KEY or a credential file, not here.\n"
    )


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd init [--hooks [--force]] [--config PATH]``: set a repository up."""
    if not args.hooks and args.write_config is None:
        raise UsageError(
            "init: nothing to do; --hooks installs the git hooks "
            f"({', '.join(HOOKS)}), --config PATH writes a starting speckitd.toml"
        )
    if args.write_config is not None:
        target: Path = args.write_config
        if target.exists():
            raise UsageError(f"{target} exists; speckitd init never overwrites a configuration")
        repo = args.repo.resolve()
        target.write_text(starting_config(repo, "main", repo.name), encoding="utf-8")
        print(f"wrote {target}")
        if not args.hooks:
            return 0
    found = hooks_dir(args.repo)
    if found is None:
        raise RepositoryError(f"{args.repo}: not a git repository")
    python = str(Path(sys.executable).absolute())  # not resolved: a venv's python is a symlink
    try:
        return install_hooks(found, python, force=args.force, out=sys.stdout)
    except OSError as error:
        raise RepositoryError(
            f"{error.filename or found}: cannot install the hooks ({error.strerror})"
        ) from error
