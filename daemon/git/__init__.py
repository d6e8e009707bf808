"""The git edge: the only subpackage that imports pygit2 or runs git.

:mod:`~daemon.git.read` opens repositories and reads history, trees and blobs;
:mod:`~daemon.git.snapshot` records a worktree's files as a commit for the gates.
"""

from daemon.git.read import Delta, FileEntry, Repo, Step, hooks_dir
from daemon.git.snapshot import snapshot

__all__ = ["Delta", "FileEntry", "Repo", "Step", "hooks_dir", "snapshot"]
