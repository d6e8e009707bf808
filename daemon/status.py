"""``speckitd status``: what speckitd has published, read from the state directory.

With the ``local`` forge, pull requests and issues are records in the state directory
(:mod:`daemon.forge.local`); this lists them per repository, as text or JSON
(``speckitd.status/1``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from daemon.forge.local import LocalForge
from daemon.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status`` to the ``speckitd`` command parser."""
    status = commands.add_parser("status", help="list the pull requests and issues speckitd made")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)


def _row(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    state = "merged" if record.get("merged") else record["state"]
    row = {"kind": kind, "number": record["number"], "state": state, "title": record["title"]}
    if kind == "pull":
        row["branch"] = record["head"]
    row["path"] = record["url"]
    return row


def jobs(state_dir: Path) -> list[dict[str, Any]]:
    """The daemon's jobs from its store, newest first ([] before the first run)."""
    database = state_dir / "speckitd.db"
    if not database.exists():
        return []
    from daemon.store.sqlite import SqliteStore  # noqa: PLC0415 - only when there is one

    store = SqliteStore(database)
    try:
        return [
            {
                "id": job.id,
                "repo": job.repo,
                "task": job.task_id,
                "state": job.state.value,
                "pr": job.pr_url,
                "issue": job.issue_url,
                "cost_usd": round(job.cost_usd, 4),
                "detail": job.detail,
            }
            for job in reversed(store.jobs())
        ]
    finally:
        store.close()


def payload(forge: LocalForge) -> dict[str, Any]:
    """Every record, per repository."""
    repos: list[dict[str, Any]] = []
    for repo in forge.repos():
        rows = [_row("pull", r) for r in forge.records(repo, "pulls")]
        rows += [_row("issue", r) for r in forge.records(repo, "issues")]
        repos.append({"repo": repo, "records": sorted(rows, key=lambda row: row["number"])})
    state_dir = forge.root.parent
    return {
        "schema": "speckitd.status/1",
        "state_dir": str(state_dir),
        "jobs": jobs(state_dir),
        "repos": repos,
    }


def text(data: dict[str, Any]) -> str:
    """A table of jobs, then one line per forge record, grouped by repository."""
    lines: list[str] = []
    if data["jobs"]:
        lines.append(f"{'job':>4}  {'task':<8} {'state':<11} {'cost':>8}  link")
        for job in data["jobs"]:
            link = job["pr"] or job["issue"] or job["detail"][:60]
            lines.append(
                f"{job['id']:>4}  {job['task']:<8} {job['state']:<11} "
                f"${job['cost_usd']:>7.4f}  {link}"
            )
        lines.append("")
    if not data["repos"]:
        lines.append(f"nothing published yet (state directory {data['state_dir']})")
        return "\n".join(lines)
    for repo in data["repos"]:
        lines.append(repo["repo"])
        for row in repo["records"]:
            kind = "PR   " if row["kind"] == "pull" else "issue"
            where = f" [{row['branch']}]" if "branch" in row else ""
            lines.append(f"  {kind} #{row['number']:<4} {row['state']:<7} {row['title']}{where}")
            lines.append(f"        {row['path']}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the local forge's records."""
    data = payload(LocalForge(settings.daemon.state_dir))
    print(json.dumps(data, indent=2) if args.json else text(data))
    return 0
