"""
[Task]: T002
[From]: plan.md §2.1, spec.md §FR-004
[Description]: SQLModel tables: users and their tasks.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel


class User(SQLModel, table=True):
    """A registered user."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True)


class Task(SQLModel, table=True):
    """A task owned by one user."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    title: str = Field(min_length=1, max_length=200)
    completed: bool = False
    created_at: datetime = Field(default_factory=datetime.utcnow)


class TaskCreate(SQLModel):
    """What a client sends to create a task."""

    title: str


class TaskRead(SQLModel):
    """What the API returns for a task."""

    id: int
    title: str
    completed: bool
