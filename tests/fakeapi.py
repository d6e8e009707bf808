"""The fake Messages API the tests use: the package's scripted model server."""

from daemon.demo.modelserver import (
    ERROR_STATUS,
    FakeMessagesAPI,
    Recorded,
    Reply,
    canonical,
    text,
    tokens,
    tool_use,
)

__all__ = [
    "ERROR_STATUS",
    "FakeMessagesAPI",
    "Recorded",
    "Reply",
    "canonical",
    "text",
    "tokens",
    "tool_use",
]
