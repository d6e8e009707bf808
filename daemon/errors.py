"""The one exception tree of speckitd, and the exit codes the CLI maps it to.

::

    SpeckitdError                 anything speckitd raises on purpose
    ├── UsageError                the command line is wrong             (exit 2)
    ├── ConfigError               the settings are wrong or unreadable  (exit 2)
    └── RepositoryError           a repository or revision can't be read (exit 3)
        └── RevisionNotFoundError a revision does not resolve           (exit 3)

Bad *documents* never raise: the parser returns findings with a file and a
line, and a scan goes on with the rest of the repository. Each edge (git,
settings) translates its library's errors into this tree; nothing else
escapes to the CLI except bugs.
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_USAGE: Final = 2
EXIT_FAILURE: Final = 3


class SpeckitdError(Exception):
    """Base class of every error speckitd raises on purpose."""

    exit_code: int = EXIT_FAILURE


class UsageError(SpeckitdError):
    """The command line asks for something impossible."""

    exit_code = EXIT_USAGE


class ConfigError(SpeckitdError):
    """The settings file, environment or credentials are invalid."""

    exit_code = EXIT_USAGE


class RepositoryError(SpeckitdError):
    """A repository cannot be opened or read."""

    exit_code = EXIT_FAILURE


class RevisionNotFoundError(RepositoryError):
    """A revision does not resolve to a commit."""


def exit_code_for(error: BaseException) -> int:
    """Return the process exit code for ``error``."""
    if isinstance(error, SpeckitdError):
        return error.exit_code
    return EXIT_FAILURE
