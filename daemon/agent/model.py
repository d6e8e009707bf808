"""The model seam: what the runner asks of a Messages API, as plain values. Pure.

:class:`~daemon.agent.client.AnthropicModel` is the real implementation; tests run
it against a fake server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from daemon.errors import SpeckitdError

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class ModelError(SpeckitdError):
    """A Messages request that failed: ``retryable`` ones may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        request_id: str | None = None,
        maybe_billed: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.request_id = request_id
        self.maybe_billed = maybe_billed  # a timeout: the server may have done the work


@dataclass(frozen=True, slots=True)
class Reply:
    """One assistant message as plain JSON-able values."""

    content: tuple[dict[str, Any], ...]
    stop_reason: str
    usage: dict[str, int] = field(default_factory=dict)
    request_id: str | None = None
    model: str = ""


class Model(Protocol):
    """Something that answers Messages requests (the API, or a test's scripted twin)."""

    async def create(self, request: dict[str, Any], *, timeout: float) -> Reply:
        """Send one request; raise :class:`ModelError` when it fails."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
