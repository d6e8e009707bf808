"""
[Task]: T002
[From]: plan.md §2.2
[Description]: The database engine and the session dependency.
"""

from collections.abc import Iterator

from sqlmodel import Session, create_engine

engine = create_engine("sqlite://")


def get_session() -> Iterator[Session]:
    """Yield a session for one request."""
    with Session(engine) as session:
        yield session
