"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

# tests/data holds fixture repositories (with their own tests): data, not this suite.
collect_ignore = ["data"]


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults (the CLI configures it process-wide)."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
