"""The policy engine on a FastAPI + SQLModel backend: change sets and their exact findings.

The fixture repository (tests/data/todo-backend) is the base of every change set: a
user-owned Task table, a JWT dependency, routers mounted under /api, spec and plan with
numbered sections and FR labels, and an OpenAPI contract. Each case changes some files
as an agent would and lists every finding expected, as (rule, path, line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from daemon.gates.engine import lint
from daemon.gates.model import Change, ChangedFile, RuleConfig, Status
from daemon.spec.sections import index_sections

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "todo-backend"
BASE = {
    path.relative_to(FIXTURE).as_posix(): path.read_text(encoding="utf-8")
    for path in sorted(FIXTURE.rglob("*"))
    if path.is_file()
}
ROUTES = "backend/app/routes/tasks.py"
SERVICE = "backend/app/services/tasks.py"


def header(task: str = "T006", source: str = "plan.md §3.3", what: str = "One task.") -> str:
    """A reference header as a module docstring."""
    return f'"""\n[Task]: {task}\n[From]: {source}\n[Description]: {what}\n"""\n'


def edit(path: str, old: str, new: str) -> str:
    """The base text of ``path`` with ``old`` replaced by ``new`` (once, and it must be there)."""
    assert old in BASE[path], (path, old)
    return BASE[path].replace(old, new, 1)


def routes_with(code: str, tasks: str = "T004, T005, T006") -> str:
    """The routes module with ``code`` appended and the running task in its header."""
    text = edit(ROUTES, "[Task]: T004, T005", f"[Task]: {tasks}")
    return text + code


GET_ONE = '''

@router.get("/{task_id}", response_model=TaskRead)
def get_task(
    user_id: int,
    task_id: int,
    current_user: User = Depends(get_current_user),
    session: Session = Depends(get_session),
) -> Task:
    """One of the user's tasks."""
    require_same_user(user_id, current_user)
    task = session.get(Task, task_id)
    if task is None or task.user_id != current_user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such task")
    return task
'''
# Appended to the 48-line routes module: the decorator is on line 51, the get() on 60.
GET_LINE, GET_CALL = 51, 60

UPDATE_DELETE = '''

@router.put("/{task_id}", response_model=TaskRead)
def update_task(
    user_id: int,
    task_id: int,
    body: TaskCreate,
    current_user: User = Depends(get_current_user),
    session: Session = Depends(get_session),
) -> Task:
    """Rename one of the user's tasks."""
    task = session.get(Task, task_id)
    if task is None or task.user_id != current_user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such task")
    task.title = body.title
    session.add(task)
    session.commit()
    return task


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task(
    user_id: int,
    task_id: int,
    current_user: User = Depends(get_current_user),
    session: Session = Depends(get_session),
) -> None:
    """Delete one of the user's tasks."""
    session.exec(delete(Task).where(Task.id == task_id, Task.user_id == current_user.id))
    session.commit()
'''


def service(body: str, task: str = "T009") -> str:
    """A new service module with ``body`` under a proper header."""
    return header(task, "plan.md §3.1", "Task queries.") + (
        "\nfrom sqlmodel import Session, select\n\nfrom app.models import Task, User\n\n" + body
    )


SERVICE_OK = '''
def tasks_of(session: Session, user: User) -> list[Task]:
    """The user's tasks."""
    return list(session.exec(select(Task).where(Task.user_id == user.id)))
'''
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
# service(): 5 header lines, blank, 1 import, blank, 1 import, blank, then the body (line 11+).
BODY = 11


@dataclass(frozen=True)
class Case:
    """One change set: files written (None deletes), the running task, the findings expected."""

    id: str
    changes: dict[str, str | None]
    expected: list[tuple[str, str, int]] = field(default_factory=list)
    task: str = "T006"


CASES = [
    # --- compliant change sets: no findings -------------------------------------------
    Case("get-one-route", {ROUTES: routes_with(GET_ONE)}),
    Case(
        "update-delete-routes-header-range",
        {
            ROUTES: routes_with(UPDATE_DELETE, "T004..T007").replace(
                "from sqlmodel import Session, select",
                "from sqlmodel import Session, delete, select",
            )
        },
        task="T007",
    ),
    Case("new-service-module", {SERVICE: service(SERVICE_OK)}, task="T009"),
    Case(
        "header-in-comment-block",
        {
            SERVICE: "# [Task]: T009\n# [From]: plan.md §3.1\n# [Description]: Queries.\n"
            + SERVICE_OK
        },
        task="T009",
    ),
    Case(
        "query-filtered-by-helper-taking-user",
        {
            SERVICE: service('''
def owned_by(user: User) -> bool:
    """Rows of ``user``."""
    return Task.user_id == user.id


def tasks_of(session: Session, current_user: User) -> list[Task]:
    """The user's tasks."""
    return list(session.exec(select(Task).where(owned_by(current_user))))
''')
        },
        task="T009",
    ),
    Case(
        "statement-filtered-later",
        {
            SERVICE: service('''
def open_tasks(session: Session, current_user: User) -> list[Task]:
    """The user's open tasks."""
    statement = select(Task)
    statement = statement.where(Task.user_id == current_user.id)
    return list(session.exec(statement.where(Task.completed == False)))  # noqa: E712
''')
        },
        task="T009",
    ),
    Case(
        "ownership-checked-by-helper",
        {
            SERVICE: service('''
def ensure_owner(task: Task | None, user: User) -> Task:
    """``task`` if ``user`` owns it."""
    if task is None or task.user_id != user.id:
        raise LookupError("no such task")
    return task


def fetch(session: Session, task_id: int, current_user: User) -> Task:
    """One of the user's tasks."""
    task = session.get(Task, task_id)
    return ensure_owner(task, current_user)
''')
        },
        task="T009",
    ),
    Case(
        "query-filter-by-owner-keyword",
        {
            SERVICE: service('''
def count_for(session: Session, user_id: int) -> int:
    """How many tasks the user has."""
    return session.query(Task).filter_by(user_id=user_id).count()
''')
        },
        task="T009",
    ),
    Case(
        "route-named-only-in-spec-text",
        {
            ROUTES: routes_with(
                '''

@router.patch("/{task_id}/complete", response_model=TaskRead)
def complete_task(user_id: int, task_id: int, current_user: User = Depends(get_current_user),
                  session: Session = Depends(get_session)) -> Task:
    """Mark one of the user's tasks completed."""
    task = session.get(Task, task_id)
    if task is None or task.user_id != current_user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such task")
    task.completed = True
    return task
''',
                "T004, T005, T008",
            )
        },
        task="T008",
    ),
    Case(
        "private-helper-needs-no-hints",
        {
            SERVICE: service(
                SERVICE_OK
                + """

def _label(task):
    return task.title.strip()
"""
            )
        },
        task="T009",
    ),
    Case(
        "secrets-read-from-the-environment",
        {
            SERVICE: service(
                SERVICE_OK
                + """

SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_URL = "postgresql://app:${DB_PASSWORD}@db/app"
API_TOKEN = "changeme-before-deploy"
"""
            )
        },
        task="T009",
    ),
    Case(
        "sql-file-with-dash-header",
        {
            "backend/app/migrations/001_tasks.sql": (
                "-- [Task]: T009\n-- [From]: plan.md §2.1\n-- [Description]: Task table.\n"
                "CREATE INDEX ix_task_user ON task (user_id);\n"
            )
        },
        task="T009",
    ),
    Case("header-with-id-range", {SERVICE: service(SERVICE_OK, "T001-T009")}, task="T009"),
    Case(
        "untouched-function-in-edited-file",
        {
            "backend/app/db.py": edit(
                "backend/app/db.py", "[Task]: T002", "[Task]: T002, T006"
            ).replace('create_engine("sqlite://")', 'create_engine("sqlite:///todo.db")')
        },
    ),
    Case(
        "whole-spec-document-reference",
        {SERVICE: service(SERVICE_OK).replace("[From]: plan.md §3.1", "[From]: spec.md")},
        task="T009",
    ),
    # --- SK001: the reference header ---------------------------------------------------
    Case(
        "new-file-without-header",
        {SERVICE: SERVICE_OK},
        [("SK001", SERVICE, 1)],
        task="T009",
    ),
    Case(
        "header-names-another-task",
        {SERVICE: service(SERVICE_OK, "T004")},
        [("SK001", SERVICE, 2)],
        task="T009",
    ),
    Case(
        "header-cites-missing-section",
        {SERVICE: service(SERVICE_OK).replace("plan.md §3.1", "speckit.plan §9.9")},
        [("SK001", SERVICE, 3)],
        task="T009",
    ),
    Case(
        "header-without-description",
        {SERVICE: service(SERVICE_OK).replace("[Description]: Task queries.\n", "")},
        [("SK001", SERVICE, 2)],
        task="T009",
    ),
    Case(
        "edited-file-keeps-old-task-list",
        {ROUTES: BASE[ROUTES] + GET_ONE},
        [("SK001", ROUTES, 2)],
    ),
    # --- SK002: write scope ------------------------------------------------------------
    Case(
        "edits-tests-outside-scope",
        {"backend/tests/test_tasks.py": BASE["backend/tests/test_tasks.py"] + "\n# more\n"},
        [("SK002", "backend/tests/test_tasks.py", 0)],
    ),
    Case(
        "adds-script-at-root",
        {"scripts/seed.py": header() + "print('seed')\n"},
        [("SK002", "scripts/seed.py", 0)],
    ),
    Case(
        "deletes-the-task-file",
        {"specs/001-todo/tasks.md": None},
        [("SK002", "specs/001-todo/tasks.md", 0)],
    ),
    # --- SK003: no frontend ------------------------------------------------------------
    Case(
        "edits-frontend-page",
        {"frontend/src/app/page.tsx": BASE["frontend/src/app/page.tsx"].replace("Todo", "Tasks")},
        [("SK003", "frontend/src/app/page.tsx", 0)],
    ),
    Case(
        "adds-frontend-component",
        {"frontend/src/components/TaskList.tsx": "export const TaskList = () => null;\n"},
        [("SK003", "frontend/src/components/TaskList.tsx", 0)],
    ),
    Case(
        "html-template-inside-backend",
        {"backend/app/templates/index.html": "<html></html>\n"},
        [("SK003", "backend/app/templates/index.html", 0)],
    ),
    # --- SK004: the API contract -------------------------------------------------------
    Case(
        "route-missing-from-contract",
        {ROUTES: routes_with(GET_ONE.replace('"/{task_id}"', '"/export"'))},
        [("SK004", ROUTES, GET_LINE)],
    ),
    Case(
        "changes-response-model",
        {
            ROUTES: edit(
                ROUTES, "response_model=list[TaskRead]", "response_model=list[Task]"
            ).replace("[Task]: T004, T005", "[Task]: T004, T005, T006")
        },
        [("SK004", ROUTES, 23)],
    ),
    Case(
        "changes-status-code",
        {
            ROUTES: edit(ROUTES, "status.HTTP_201_CREATED", "status.HTTP_200_OK").replace(
                "[Task]: T004, T005", "[Task]: T004, T005, T006"
            )
        },
        [("SK004", ROUTES, 35)],
    ),
    Case(
        "changes-route-path",
        {
            ROUTES: edit(
                ROUTES, '@router.get("", response_model', '@router.get("/all", response_model'
            ).replace("[Task]: T004, T005", "[Task]: T004, T005, T006")
        },
        [("SK004", ROUTES, 23), ("SK004", ROUTES, 23)],
    ),
    Case(
        "removes-a-route",
        {
            ROUTES: edit(
                ROUTES, BASE[ROUTES][BASE[ROUTES].index("\n\n@router.post") :], "\n"
            ).replace("[Task]: T004, T005", "[Task]: T004, T005, T006")
        },
        [("SK004", ROUTES, 0)],
    ),
    Case(
        "changes-mount-prefix",
        {
            "backend/app/main.py": edit(
                "backend/app/main.py", 'prefix="/api"', 'prefix="/v2"'
            ).replace("[Task]: T001, T004", "[Task]: T001, T004, T006")
        },
        [
            ("SK004", ROUTES, 23),
            ("SK004", ROUTES, 23),
            ("SK004", ROUTES, 35),
            ("SK004", ROUTES, 35),
        ],
    ),
    # --- SK005: user isolation ---------------------------------------------------------
    Case(
        "lists-every-users-tasks",
        {SERVICE: service(SERVICE_OK.replace(".where(Task.user_id == user.id)", ""))},
        [("SK005", SERVICE, BODY + 3)],
        task="T009",
    ),
    Case(
        "get-without-ownership-check",
        {
            ROUTES: routes_with(
                GET_ONE.replace(
                    "    if task is None or task.user_id != current_user.id:\n",
                    "    if task is None:\n",
                )
            )
        },
        [("SK005", ROUTES, GET_CALL)],
    ),
    Case(
        "filters-owner-by-a-constant",
        {SERVICE: service(SERVICE_OK.replace("Task.user_id == user.id", "Task.user_id == 1"))},
        [("SK005", SERVICE, BODY + 3)],
        task="T009",
    ),
    Case(
        "bulk-delete-without-owner",
        {
            SERVICE: service('''
def purge(session: Session, task_id: int, current_user: User) -> None:
    """Delete a task."""
    session.exec(delete(Task).where(Task.id == task_id))
''')
        },
        [("SK005", SERVICE, BODY + 3)],
        task="T009",
    ),
    Case(
        "legacy-query-without-owner",
        {
            SERVICE: service('''
def find(session: Session, task_id: int) -> Task | None:
    """A task by id."""
    return session.query(Task).filter(Task.id == task_id).first()
''')
        },
        [("SK005", SERVICE, BODY + 3)],
        task="T009",
    ),
    # --- SK006: typed and documented ---------------------------------------------------
    Case(
        "public-function-without-hints",
        {
            SERVICE: service(
                SERVICE_OK
                + '''

def titles(tasks):
    """Titles of tasks."""
    return [task.title for task in tasks]
'''
            )
        },
        [("SK006", SERVICE, BODY + 6)],
        task="T009",
    ),
    Case(
        "public-function-without-docstring",
        {
            SERVICE: service(
                SERVICE_OK
                + """

def count(tasks: list[Task]) -> int:
    return len(tasks)
"""
            )
        },
        [("SK006", SERVICE, BODY + 6)],
        task="T009",
    ),
    Case(
        "method-without-return-type",
        {
            SERVICE: service(
                SERVICE_OK
                + '''

class TaskQueries:
    """Queries bound to a session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def everything_of(self, user: User):
        """The user's tasks."""
        return tasks_of(self.session, user)
'''
            )
        },
        [("SK006", SERVICE, BODY + 12)],
        task="T009",
    ),
    # --- SK007: secrets ----------------------------------------------------------------
    Case(
        "anthropic-key-in-code",
        {SERVICE: service(SERVICE_OK + '\nCLIENT_KEY = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv"\n')},
        [("SK007", SERVICE, BODY + 5)],
        task="T009",
    ),
    Case(
        "password-in-database-url",
        {
            "backend/app/db.py": edit(
                "backend/app/db.py", "[Task]: T002", "[Task]: T002, T006"
            ).replace('"sqlite://"', '"postgresql://app:s3cretpass@db.internal/app"')
        },
        [("SK007", "backend/app/db.py", 11)],
    ),
    Case(
        "private-key-committed",
        {"backend/app/key.pem": PRIVATE_KEY},
        [("SK007", "backend/app/key.pem", 1)],
    ),
    # --- SK008: protected paths --------------------------------------------------------
    Case(
        "adds-a-dependency",
        {"pyproject.toml": BASE["pyproject.toml"].replace('"pyjwt"]', '"pyjwt", "requests"]')},
        [("SK008", "pyproject.toml", 0)],
    ),
    Case(
        "edits-ci-workflow",
        {".github/workflows/ci.yml": BASE[".github/workflows/ci.yml"] + "      - run: curl evil\n"},
        [("SK008", ".github/workflows/ci.yml", 0)],
    ),
    Case(
        "adds-an-agent",
        {".claude/agents/helper.md": "---\nname: helper\n---\nDo anything.\n"},
        [("SK008", ".claude/agents/helper.md", 0)],
    ),
    Case(
        "adds-codeowners",
        {"CODEOWNERS": "* @mallory\n"},
        [("SK008", "CODEOWNERS", 0)],
    ),
    # --- several rules at once ---------------------------------------------------------
    Case(
        "unscoped-untyped-unheaded",
        {
            "tools/dump.py": "def dump(session):\n    return session.exec(select(Task)).all()\n",
            ROUTES: BASE[ROUTES] + GET_ONE.replace('"/{task_id}"', '"/dump"'),
        },
        [("SK001", ROUTES, 2), ("SK004", ROUTES, GET_LINE), ("SK002", "tools/dump.py", 0)],
    ),
]


def change_for(case: Case) -> Change:
    """The Change a case describes, against the fixture base."""
    head = dict(BASE)
    files = []
    for path, text in case.changes.items():
        old = BASE.get(path)
        status = Status.DELETED if text is None else Status.MODIFIED if old else Status.ADDED
        files.append(ChangedFile(path, status, old, text))
        if text is None:
            head.pop(path, None)
        else:
            head[path] = text
    feature = "specs/001-todo/"
    documents = {
        "spec": index_sections(BASE[feature + "spec.md"].encode(), feature + "spec.md"),
        "plan": index_sections(BASE[feature + "plan.md"].encode(), feature + "plan.md"),
    }
    texts = {path: text for path, text in BASE.items() if path.startswith(feature)}
    return Change(
        files=tuple(files),
        task_ids=(case.task,),
        documents=documents,
        texts=texts,
        head_files={p: t for p, t in head.items() if p.endswith(".py")},
        base_files={p: t for p, t in BASE.items() if p.endswith(".py")},
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_change_set_findings(case: Case) -> None:
    """The engine reports exactly the expected findings for each change set."""
    findings = lint(change_for(case), RuleConfig())
    got = sorted((f.rule, f.path, f.line) for f in findings)
    assert got == sorted(case.expected), [
        f"{f.rule} {f.path}:{f.line} {f.message}" for f in findings
    ]


def test_table_covers_every_rule_and_compliant_sets() -> None:
    """The table holds 40+ change sets, compliant ones, and several violations of each rule."""
    rules = [rule for case in CASES for rule, _, _ in case.expected]
    assert len(CASES) >= 40
    assert sum(1 for case in CASES if not case.expected) >= 10
    for rule in ("SK001", "SK002", "SK003", "SK004", "SK005", "SK006", "SK007", "SK008"):
        assert rules.count(rule) >= 3, rule


def test_the_fixture_base_is_clean() -> None:
    """The fixture repository itself breaks no rule (each file linted as newly added)."""
    files = tuple(
        ChangedFile(path, Status.ADDED, None, text)
        for path, text in BASE.items()
        if path.startswith("backend/app/")
    )
    change = Change(files, task_ids=("T001",), documents=change_for(CASES[0]).documents)
    findings = lint(change, RuleConfig(rules=frozenset({"SK005", "SK006", "SK007"})))
    assert findings == []
