"""``speckitd lint``: the gates' policy engine on a real change, read from git.

A change is base → head, where head is a commit or the index (``--staged``). The
engine also reads the head's Python files under the write scope (routers and
tables live there), and the spec documents of the running task's feature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from daemon.gates.engine import lint
from daemon.gates.model import Change, ChangedFile, LintFinding, RuleConfig, Status
from daemon.git import Repo
from daemon.globs import matches
from daemon.spec.ids import task_key
from daemon.spec.layout import documents_for
from daemon.spec.model import SectionIndex
from daemon.spec.sections import index_sections
from daemon.spec.tasks import parse_cores

MAX_SOURCE_BYTES = 1024 * 1024


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a change: a commit's tree, or the index (``tree`` None)."""

    repo: Repo
    tree: str | None

    def blobs(self, suffix: str) -> dict[str, str]:
        """Blob ids of the files ending with ``suffix``."""
        if self.tree is None:
            return self.repo.index_tree_files(suffix)
        return self.repo.tree_files(self.tree, suffix)

    def sources(self, scope: tuple[str, ...], extra: Iterable[str] = ()) -> dict[str, str]:
        """Python sources under ``scope`` (and the ``extra`` paths), at most 1 MiB each."""
        wanted = set(extra)
        found: dict[str, str] = {}
        for path, blob in self.blobs(".py").items():
            if (matches(path, scope) or path in wanted) and self.repo.blob_size(
                blob
            ) <= MAX_SOURCE_BYTES:
                found[path] = _text(self.repo.blob(blob)) or ""
        return found


def changed_files(repo: Repo, base: str | None, head: str | None) -> list[ChangedFile]:
    """The changed files with their texts (symlinks and submodules carry none).

    A regular file is binary when the first 8,000 bytes of its new version (of its old
    one, when deleted) hold a NUL (git's own test),
    whatever the repository's ``.gitattributes`` say; its text is still given, decoded
    with replacement characters, so that content rules (secrets) read it too.
    """
    files: list[ChangedFile] = []
    for delta in repo.diff(base, head):
        old = None if delta.binary or delta.old_blob is None else repo.blob(delta.old_blob)
        new = None if delta.binary or delta.new_blob is None else repo.blob(delta.new_blob)
        judged = new if new is not None else old  # the side the change leaves (or removes)
        binary = delta.binary or (judged is not None and b"\0" in judged[:8000])
        changed = ChangedFile(
            delta.path, Status(delta.status), _text(old), _text(new), delta.old_path, binary
        )
        files.append(changed)
    return files


def _feature_documents(
    repo: Repo, tree: str, task_ids: tuple[str, ...]
) -> tuple[dict[str, SectionIndex], dict[str, str]]:
    """Section indexes and raw texts of the spec documents of the running task's feature.

    The feature is the task file defining the task; with no task, or a task no file
    defines, the only task file when there is just one, else none.
    """
    task_files = repo.task_files(tree)
    keys = {task_key(task) for task in task_ids}
    chosen = [
        path
        for path, entry in task_files.items()
        if entry.regular and keys & set(parse_cores(repo.blob(entry.blob), path).index)
    ]
    if not chosen and len(task_files) == 1:
        chosen = list(task_files)
    if not chosen:
        return {}, {}
    documents: dict[str, SectionIndex] = {}
    texts: dict[str, str] = {}
    for kind, (path, data) in read_documents(repo, tree, chosen[0]).items():
        texts[path] = _text(data) or ""
        documents[kind] = index_sections(data, path)
    return documents, texts


def read_documents(repo: Repo, tree: str, task_path: str) -> dict[str, tuple[str, bytes]]:
    """The spec documents of a task file's feature at ``tree``: kind → (path, bytes).

    Kinds as :func:`~daemon.spec.layout.documents_for` names them; documents over
    1 MiB are left out.
    """
    found: dict[str, tuple[str, bytes]] = {}
    for kind, path in documents_for(task_path, repo.paths(tree)).items():
        data = repo.read(tree, path)
        if data is not None and len(data) <= MAX_SOURCE_BYTES:
            found[kind] = (path, data)
    return found


def lint_change(
    repo: Repo,
    *,
    base: str | None,
    head: str | None,
    task_ids: tuple[str, ...],
    config: RuleConfig,
) -> list[LintFinding]:
    """Findings for the change from ``base`` (None: nothing) to ``head`` (None: the index)."""
    files = changed_files(repo, base, head)
    changed = [f.path for f in files]
    head_side = Side(repo, repo.tree_of(head) if head else None)
    base_side = Side(repo, repo.tree_of(base) if base else None)
    spec_tree = head_side.tree or (base_side.tree if base else None)
    documents, texts = _feature_documents(repo, spec_tree, task_ids) if spec_tree else ({}, {})
    change = Change(
        files=tuple(files),
        task_ids=task_ids,
        documents=documents,
        texts=texts,
        head_files=head_side.sources(config.write_scope, changed),
        base_files=base_side.sources(config.write_scope, changed) if base else {},
    )
    return lint(change, config)
