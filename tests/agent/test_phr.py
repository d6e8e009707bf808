"""The Prompt History Record of a run: its path, YAML front matter and sections."""

from __future__ import annotations

import datetime

import pytest
import yaml

from daemon.agent.outcome import Ending, Outcome, Usage
from daemon.agent.phr import RunRecord, phr_path, phr_text, slug

TITLE = "Add a task service module in backend/app/services/tasks.py (plan.md §3.1)"


def record(**changes: str) -> RunRecord:
    values = {
        "task_id": "T009",
        "title": TITLE,
        "feature": "001-todo",
        "branch": "speckitd/T009",
        "model": "claude-sonnet-5-5",
        "date": "2026-01-02",
        "prompt": "Implement T009.\n\n",
    }
    values.update(changes)
    return RunRecord(**values)


COMPLETED = Outcome(
    Ending.COMPLETED,
    summary="Added tasks_of() scoped to the owner.",
    assumptions=("sessions come from get_session",),
    spec_refs=("plan.md §3.1", "spec.md §US2"),
    turns=3,
    usage=Usage(input=1000, output=234, cache_read=0, cache_write=0, cost_usd=0.0123, requests=3),
    files=("backend/app/services/tasks.py", "backend/app/services/__init__.py"),
)


def front_matter(text: str) -> dict:
    """The YAML between the first two ``---`` lines."""
    lines = text.split("\n")
    assert lines[0] == "---"
    end = lines.index("---", 1)
    loaded = yaml.safe_load("\n".join(lines[1:end]))
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Add a task service", 40, "add-a-task-service"),
        ("Hello, World!! (v2.0)", 40, "hello-world-v2-0"),
        ("Créer une tâche — vite", 40, "creer-une-tache-vite"),
        ("ＦＵＬＬ width", 40, "full-width"),
        ("T009", 40, "t009"),
        ("  --leading and trailing--  ", 40, "leading-and-trailing"),
        ("a" * 50, 40, "a" * 40),
        ("abc def", 4, "abc"),
        ("日本語のタスク", 40, "task"),
        ("!!!", 40, "task"),
        ("", 40, "task"),
    ],
)
def test_slug(text, limit, expected):
    """Lowercase ASCII words joined by hyphens, cut at the limit, never empty."""
    assert slug(text, limit) == expected


def test_slug_of_the_fixture_title_is_cut_at_forty():
    """A long title is cut to 40 characters with no trailing hyphen."""
    assert slug(TITLE) == "add-a-task-service-module-in-backend-app"


def test_phr_path_layout():
    """history/prompts/<feature>/<id>-<slug>.green.prompt.md."""
    assert phr_path(record()) == (
        "history/prompts/001-todo/t009-add-a-task-service-module-in-backend-app.green.prompt.md"
    )


def test_phr_path_without_feature_is_general():
    """A run outside a feature directory is filed under general."""
    assert phr_path(record(feature="", title="Fix it")) == (
        "history/prompts/general/t009-fix-it.green.prompt.md"
    )


def test_front_matter_is_yaml_with_the_run_facts():
    """The front matter parses as YAML: stage green, the id, title, model and changed files."""
    front = front_matter(phr_text(record(), COMPLETED))
    assert front == {
        "id": "T009",
        "title": TITLE,
        "stage": "green",
        "date": datetime.date(2026, 1, 2),
        "surface": "agent",
        "model": "claude-sonnet-5-5",
        "feature": "001-todo",
        "branch": "speckitd/T009",
        "user": "speckitd",
        "command": "speckitd run",
        "labels": ["speckitd", "T009"],
        "links": {"spec": None, "ticket": None, "adr": None, "pr": None},
        "files": ["backend/app/services/tasks.py", "backend/app/services/__init__.py"],
        "tests": ["gates (speckitd lint)"],
    }


def test_front_matter_without_files_or_feature():
    """No files changed and no feature still give valid YAML."""
    front = front_matter(phr_text(record(feature=""), Outcome(Ending.CLARIFICATION)))
    assert front["files"] == ["none"]
    assert front["feature"] == "none"


@pytest.mark.parametrize(
    "title",
    [
        'Fix: the "quoted" bit # not a comment',
        "back\\slash and 'single' quotes",
        "two\nlines\tand a tab",
        "---",
        "- [ ] looks like a list: yes",
        "émoji 🚀 and ünïcode",
        "{flow: mapping}, [flow, seq]",
        "null",
    ],
)
def test_front_matter_keeps_awkward_titles_exactly(title):
    """Titles with YAML syntax, quotes and line breaks come back unchanged."""
    assert front_matter(phr_text(record(title=title), COMPLETED))["title"] == title


@pytest.mark.parametrize("title", ["rub\x7fout", "c1\x9bcontrol", "next\x85line"])
def test_front_matter_survives_control_characters_in_titles(title):
    """A control character in a task title still gives parseable YAML."""
    assert front_matter(phr_text(record(title=title), COMPLETED))["title"] == title


def test_sections_of_a_completed_run():
    """Prompt, Response snapshot, Outcome and Evaluation come in order with the run's facts."""
    text = phr_text(record(), COMPLETED)
    body = text.split("---\n", 2)[2]
    headings = ["## Prompt", "## Response snapshot", "## Outcome", "## Evaluation notes (flywheel)"]
    positions = [body.find(f"\n{heading}\n") for heading in headings]
    assert all(position >= 0 for position in positions), positions
    assert positions == sorted(positions)
    assert "## Prompt\n\nImplement T009.\n\n## Response snapshot" in body
    assert "## Response snapshot\n\nAdded tasks_of() scoped to the owner.\n" in body
    assert "Assumptions:\n- sessions come from get_session\n" in body
    assert "- ✅ Impact: completed; implements plan.md §3.1, spec.md §US2\n" in body
    assert "- 🧪 Tests: gates passed\n" in body
    assert "- 📁 Files: 2 changed\n" in body
    assert "- 🧠 Reflection: 3 turns, 1,234 tokens, $0.0123\n" in body
    assert "- Graders run and results (PASS/FAIL): gates PASS\n" in body
    assert "- Failure modes observed: none\n" in body


def test_sections_of_a_run_that_did_not_complete():
    """Without a summary the detail is the response; the gates read as not passed."""
    outcome = Outcome(Ending.BUDGET, detail="stopped before the turn limit (3)", limit="turns")
    body = phr_text(record(), outcome).split("---\n", 2)[2]
    assert "## Response snapshot\n\nstopped before the turn limit (3)\n" in body
    assert "Assumptions:\n- none\n" in body
    assert "- ✅ Impact: budget_exhausted; implements none\n" in body
    assert "- 🧪 Tests: gates not passed\n" in body
    assert "- 📁 Files: 0 changed\n" in body
    assert "- Graders run and results (PASS/FAIL): gates FAIL\n" in body
    assert "- Failure modes observed: stopped before the turn limit (3)\n" in body
