"""
[Task]: T004
[From]: plan.md §3.1
[Description]: The API routers.
"""
