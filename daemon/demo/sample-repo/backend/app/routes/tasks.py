"""
[Task]: T004, T005
[From]: plan.md §3.1, spec.md §FR-002, spec.md §FR-003
[Description]: Create and list the authenticated user's tasks.
"""

from fastapi import APIRouter, Depends, HTTPException, status
from sqlmodel import Session, select

from app.auth import get_current_user
from app.db import get_session
from app.models import Task, TaskCreate, TaskRead, User

router = APIRouter(prefix="/{user_id}/tasks", tags=["tasks"])


def require_same_user(user_id: int, current_user: User) -> None:
    """Refuse a path user that is not the authenticated one."""
    if user_id != current_user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not your tasks")


@router.get("", response_model=list[TaskRead])
def list_tasks(
    user_id: int,
    current_user: User = Depends(get_current_user),
    session: Session = Depends(get_session),
) -> list[Task]:
    """The user's tasks, newest first."""
    require_same_user(user_id, current_user)
    statement = select(Task).where(Task.user_id == current_user.id)
    return list(session.exec(statement.order_by(Task.created_at.desc())))


@router.post("", response_model=TaskRead, status_code=status.HTTP_201_CREATED)
def create_task(
    user_id: int,
    body: TaskCreate,
    current_user: User = Depends(get_current_user),
    session: Session = Depends(get_session),
) -> Task:
    """Create a task owned by the authenticated user."""
    require_same_user(user_id, current_user)
    task = Task(title=body.title, user_id=current_user.id)
    session.add(task)
    session.commit()
    session.refresh(task)
    return task
