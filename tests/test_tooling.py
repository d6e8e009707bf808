"""The code stays clean: ruff check, ruff format --check and mypy --strict daemon/ pass."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--check", "--no-cache", "."],
        ["mypy", "--strict", "daemon/"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_tool_passes(argv: list[str]) -> None:
    """The tool exits 0 on the whole project (its output is shown when it does not)."""
    result = subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Each edge library is imported by one module or subpackage only (DESIGN §10).
EDGES = {
    "pygit2": ("daemon/git/",),
    "anthropic": ("daemon/agent/client.py",),
    "httpx2": ("daemon/agent/client.py",),
    "httpx": ("daemon/forge/github.py",),
    "jwt": ("daemon/forge/githubauth.py",),
    "cryptography": ("daemon/forge/githubauth.py",),
    "sqlite3": ("daemon/store/sqlite.py",),
    "uvicorn": ("daemon/service/http.py",),
    "watchdog": ("daemon/service/watch.py",),
    "apscheduler": ("daemon/service/main.py",),
}
# Pure modules import no I/O library and none of the edges.
PURE = (
    "daemon/detect.py",
    "daemon/spec/",
    "daemon/gates/engine.py",
    "daemon/agent/context.py",
    "daemon/agent/budget.py",
    "daemon/agent/outcome.py",
    "daemon/agent/definitions.py",
    "daemon/agent/phr.py",
    "daemon/agent/resume.py",
    "daemon/agent/model.py",
    "daemon/naming.py",
    "daemon/publish/bodies.py",
    "daemon/publish/neutralize.py",
    "daemon/publish/lifecycle.py",
    "daemon/spec/tick.py",
    "daemon/forge/base.py",
    "daemon/forge/githubjson.py",
    "daemon/store/base.py",
    "daemon/store/lifecycle.py",
    "daemon/service/webhook.py",
    "daemon/service/metrics.py",
    "daemon/demo/script.py",
)
IO_MODULES = {"pygit2", "anthropic", "httpx", "httpx2", "subprocess", "socket", "sqlite3"}


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (at any depth of the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_edge_libraries_are_imported_in_one_place() -> None:
    """pygit2 only under daemon/git/, the anthropic SDK only in daemon/agent/client.py."""
    for path in sorted((ROOT / "daemon").rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where.startswith("daemon/demo/sample-repo/"):
            continue  # the sample repository is data, not our code
        for library in _imports(path) & set(EDGES):
            assert where.startswith(EDGES[library]), f"{where} imports {library}"


def test_pure_modules_import_no_io() -> None:
    """Parsing, detection, policy and prompt assembly import no I/O library."""
    for path in sorted((ROOT / "daemon").rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where.startswith(PURE):
            assert not (_imports(path) & IO_MODULES), f"{where} imports I/O"
