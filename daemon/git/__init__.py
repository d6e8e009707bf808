"""The git edge: the only subpackage that imports pygit2 or runs git.

:mod:`~daemon.git.read` opens repositories and reads commits, trees and blobs;
:mod:`~daemon.git.history` reads a branch's history and its task-file changes;
:mod:`~daemon.git.batch` reads many blobs through one git process;
:mod:`~daemon.git.snapshot` records a worktree's files as a commit for the gates, and
writes a commit's files out to a folder.
"""

from daemon.git.batch import BlobStream
from daemon.git.history import FileEntry, Step
from daemon.git.read import Delta, Repo, hooks_dir
from daemon.git.snapshot import materialize, snapshot

__all__ = [
    "BlobStream",
    "Delta",
    "FileEntry",
    "Repo",
    "Step",
    "hooks_dir",
    "materialize",
    "snapshot",
]
