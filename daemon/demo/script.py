"""The demo's scripted model: what a capable agent would do for the two demo tasks. Pure.

T009 is implemented through the editor tool (look at the models, write the service,
complete); T010 is ambiguous by design ("after a while"), so the agent stops and asks.
The reply depends only on the request, so a restarted demo continues where it was.
"""

from __future__ import annotations

import re
from typing import Any, Final

from daemon.demo.modelserver import Reply, text, tool_use

SERVICE_PATH: Final = "backend/app/services/tasks.py"
SERVICE: Final = '''"""
[Task]: T009
[From]: plan.md §3.1
[Description]: The task service: queries scoped to their owner.
"""

from sqlmodel import Session, select

from app.models import Task


def tasks_of(session: Session, user_id: int) -> list[Task]:
    """The tasks owned by ``user_id``, oldest first."""
    query = select(Task).where(Task.user_id == user_id).order_by(Task.id)
    return list(session.exec(query))
'''
AMBIGUOUS_TASK: Final = (
    "- [ ] T010 [US2] Archive completed tasks after a while in backend/app/services/tasks.py"
)
_TASK_ID: Final = re.compile(r'<task id="([^"]+)"')


def _task_of(body: dict[str, Any]) -> str:
    first = body["messages"][0]["content"]
    found = _TASK_ID.search(" ".join(block.get("text", "") for block in first))
    return found.group(1) if found else ""


def respond(_index: int, body: dict[str, Any]) -> Reply:
    """The next reply for a request of the demo's agent."""
    turn = sum(message["role"] == "assistant" for message in body["messages"])
    if _task_of(body) == "T010":
        return Reply.message(
            [
                text("The task says 'after a while' without saying how long."),
                tool_use(
                    "toolu_ask",
                    "request_clarification",
                    {
                        "missing": "how long a completed task stays before it is archived",
                        "consulted": ["spec.md §FR-005", "plan.md §3.3"],
                        "questions": [
                            "After how many days is a completed task archived?",
                            "Are archived tasks still listed by GET /api/{user_id}/tasks?",
                        ],
                    },
                ),
            ],
            "tool_use",
        )
    steps = [
        ("view", {"command": "view", "path": "backend/app/models.py"}),
        ("create", {"command": "create", "path": SERVICE_PATH, "file_text": SERVICE}),
    ]
    if turn < len(steps):
        name, data = steps[turn]
        return Reply.message(
            [tool_use(f"toolu_{name}", "str_replace_based_edit_tool", data)], "tool_use"
        )
    return Reply.message(
        [
            tool_use(
                "toolu_done",
                "complete_task",
                {
                    "summary": "Added tasks_of(), the owner-scoped task query of plan.md §3.1.",
                    "assumptions": ["tasks are listed oldest first"],
                    "spec_refs": ["plan.md §3.1"],
                },
            )
        ],
        "tool_use",
    )
