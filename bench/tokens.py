"""Prompt caching: what a scripted 12-turn task costs in input tokens, against a naive prompt.

The run is the real runner (context assembly, cache breakpoints, rolling breakpoint)
against the fake Messages API, whose cache compares each request's prefix up to each
``cache_control`` breakpoint with earlier requests. The baseline, measured in the same
run against a fresh fake, sends the same conversation the naive way: the whole
constitution, spec and plan in the first message of every request, no
``cache_control``. Billed-equivalent input tokens weigh cache writes at 1.25 and cache
reads at 0.1, as the API prices them.

    ./uvw run python bench/tokens.py

The spec and plan of the fixture are small; when ``../shared/corpus`` is present, a real
spec and plan (kanban board) are appended to them so the documents have a real size.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.demo.modelserver import FakeMessagesAPI, Reply, tool_use  # noqa: E402
from tests.agent.support import SERVICE, make_project, run_agent  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "specs"
EXTRA = {
    "spec.md": "sheenalunatics__kb_speckit_demo__specs__001-kanban-board__spec.md",
    "plan.md": "sheenalunatics__kb_speckit_demo__specs__001-kanban-board__plan.md",
}
EDITOR = "str_replace_based_edit_tool"
PATH = "backend/app/services/tasks.py"


def script() -> list[Reply]:
    """Twelve turns: look around, write the service, refine it, complete."""
    calls: list[tuple[str, dict[str, Any]]] = [
        (EDITOR, {"command": "view", "path": "backend/app"}),
        (EDITOR, {"command": "view", "path": "backend/app/routes/tasks.py"}),
        ("search_code", {"pattern": "user_id", "path_glob": "backend/**/*.py"}),
        (EDITOR, {"command": "view", "path": "backend/app/models.py"}),
        (EDITOR, {"command": "create", "path": PATH, "file_text": SERVICE}),
        ("run_checks", {}),
        (EDITOR, {"command": "view", "path": PATH}),
        (EDITOR, {"command": "insert", "path": PATH, "insert_line": 15, "insert_text": "\n"}),
        (EDITOR, {"command": "view", "path": "backend/app/db.py"}),
        ("search_code", {"pattern": "def tasks_of"}),
        (EDITOR, {"command": "view", "path": PATH, "view_range": [1, 8]}),
        ("complete_task", {"summary": "service", "assumptions": [], "spec_refs": ["plan.md §3.1"]}),
    ]
    return [
        Reply.message([tool_use(f"toolu_{n}", name, data)], "tool_use")
        for n, (name, data) in enumerate(calls, start=1)
    ]


def strip(value: object) -> object:
    """``value`` without any cache_control key."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [strip(item) for item in value]
    return value


def naive(body: dict[str, Any], documents: str) -> dict[str, Any]:
    """The same request with whole documents in the first message and no cache_control."""
    plain: dict[str, Any] = strip(body)  # type: ignore[assignment]
    first = plain["messages"][0]
    task = first["content"][-1]["text"].rsplit("<task ", 1)[1]
    first["content"] = [{"type": "text", "text": documents + "<task " + task}]
    return plain


def send(url: str, body: dict[str, Any]) -> dict[str, int]:
    """POST one request to a fake and return its usage."""
    request = urllib.request.Request(  # noqa: S310 - a local http:// fake
        url + "/v1/messages",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": "k"},
    )
    with urllib.request.urlopen(request) as answer:  # noqa: S310
        return dict(json.load(answer)["usage"])


def billed(usage: dict[str, int]) -> float:
    """Input tokens weighted as the API bills them."""
    return (
        usage["input_tokens"]
        + 1.25 * usage.get("cache_creation_input_tokens", 0)
        + 0.1 * usage.get("cache_read_input_tokens", 0)
    )


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as temp:
        project = make_project(Path(temp))
        main_repo = project.repo
        feature = main_repo.path / "specs" / "001-todo"
        if CORPUS.is_dir():
            for name, source in EXTRA.items():
                text = (feature / name).read_text() + "\n" + (CORPUS / source).read_text()
                main_repo.write(f"specs/001-todo/{name}", text)
            main_repo.git("commit", "-q", "-am", "bigger documents")
            project = make_project(Path(temp), "bench")
        else:
            print("note: ../shared/corpus not found; the fixture's small documents are used")
        documents = "".join(
            f'<document path="{path}">\n{(main_repo.path / path).read_text()}\n</document>\n'
            for path in (
                ".specify/memory/constitution.md",
                "specs/001-todo/spec.md",
                "specs/001-todo/plan.md",
            )
        )
        # The real API caches no prefix under 1,024 tokens (Sonnet): the fake does the same.
        with FakeMessagesAPI(min_cacheable_tokens=1024) as fake:
            fake.script(*script())
            outcome = run_agent(project, fake.url, Path(temp) / "t.jsonl")
            cached = [r for r in fake.requests if r.status == 200]
        with FakeMessagesAPI(min_cacheable_tokens=1024) as plain:
            plain.script(*script())
            baseline = [send(plain.url, naive(r.body, documents)) for r in cached]
    usages = [r.usage or {} for r in cached]
    later = usages[1:]
    prompt = sum(
        u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
        for u in later
    )
    share = sum(u["cache_read_input_tokens"] for u in later) / prompt
    ours = sum(billed(u) for u in usages)
    naive_total = sum(billed(u) for u in baseline)
    print(f"run: {outcome.ending.value}, {len(cached)} turns, ${outcome.usage.cost_usd:.4f}")
    print(f"cached share of input tokens after turn 1: {share:.1%}  (target >= 80%)")
    print(
        f"billed-equivalent input tokens: {ours:,.0f} vs naive {naive_total:,.0f} "
        f"= {ours / naive_total:.3f} of the baseline  (target <= 0.333)"
    )
    return 0 if share >= 0.8 and ours <= naive_total / 3 else 1


if __name__ == "__main__":
    sys.exit(main())
