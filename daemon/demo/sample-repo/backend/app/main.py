"""
[Task]: T001, T004
[From]: plan.md §1.1, plan.md §3.1
[Description]: The FastAPI application and its routers.
"""

from fastapi import FastAPI

from app.routes import tasks

app = FastAPI(title="Todo API")
app.include_router(tasks.router, prefix="/api")


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness probe."""
    return {"status": "ok"}
