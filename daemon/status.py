"""``speckitd status``: what speckitd has published, read from the state directory.

With the ``local`` forge, pull requests and issues are records in the state directory
(:mod:`daemon.forge.local`); this lists them per repository, as text or JSON
(``speckitd.status/1``).
"""

from __future__ import annotations

import argparse
import json
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


def payload(forge: LocalForge) -> dict[str, Any]:
    """Every record, per repository."""
    repos: list[dict[str, Any]] = []
    for repo in forge.repos():
        rows = [_row("pull", r) for r in forge.records(repo, "pulls")]
        rows += [_row("issue", r) for r in forge.records(repo, "issues")]
        repos.append({"repo": repo, "records": sorted(rows, key=lambda row: row["number"])})
    return {"schema": "speckitd.status/1", "state_dir": str(forge.root.parent), "repos": repos}


def text(data: dict[str, Any]) -> str:
    """One line per record, grouped by repository."""
    if not data["repos"]:
        return f"nothing published yet (state directory {data['state_dir']})"
    lines: list[str] = []
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
