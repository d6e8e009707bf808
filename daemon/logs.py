"""Structured logging: structlog, JSON when not on a TTY, secrets redacted.

``format_exc_info`` runs before the redactor so tracebacks are scrubbed too
(notes/dependencies.md §7). The daemon binds ``repo``, ``task`` and ``run`` per job.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

_SECRET_KEYS: Final = re.compile(r"api_key|token|secret|password|authorization|credential", re.I)
_SECRET_VALUES: Final = re.compile(
    # GitHub tokens include the newer installation tokens ghs_<app id>_<random>.
    r"sk-ant-[A-Za-z0-9_-]+|gh[pousr]_[A-Za-z0-9_]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|Bearer\s+[A-Za-z0-9._~+/=-]+"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
)
REDACTED: Final = "[REDACTED]"


def scrub(value: object) -> object:
    """Redact secret-shaped strings inside ``value`` (strings, dicts, lists, tuples)."""
    if isinstance(value, str):
        return _SECRET_VALUES.sub(REDACTED, value)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_KEYS.search(k) else scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(scrub(item) for item in value)
    return value


def redact(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Redact secret keys and secret-shaped values (a structlog processor)."""
    for key, value in list(event.items()):
        event[key] = REDACTED if _SECRET_KEYS.search(key) else scrub(value)
    return event


def configure(*, json: bool | None = None, level: int = logging.INFO) -> None:
    """Configure structlog for the process (console on a TTY, JSON lines otherwise)."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
