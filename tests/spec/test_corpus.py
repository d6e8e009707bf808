"""Every task and spec file in ../shared/corpus parses; labelled ones give exactly their IDs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from daemon.spec.sections import index_sections
from daemon.spec.tasks import parse_tasks

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MANIFEST = SHARED / "corpus" / "MANIFEST.tsv"


def _rows() -> list[dict[str, str]]:
    if not MANIFEST.exists():
        return []
    with MANIFEST.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _rows()
needs_corpus = pytest.mark.skipif(
    not ROWS, reason=f"the shared corpus is not here ({MANIFEST} missing; CI has it)"
)
LABELLED = [
    row for row in ROWS if row["file"].startswith("corpus/tasks/") and row["expected_task_ids"]
]


@needs_corpus
@pytest.mark.parametrize("row", LABELLED, ids=[Path(r["file"]).name for r in LABELLED])
def test_labelled_task_ids_in_document_order(row: dict[str, str]) -> None:
    """The parsed IDs equal the hand-checked IDs exactly, in document order ('-' means none)."""
    data = (SHARED / row["file"]).read_bytes()
    parsed = parse_tasks(data, row["path"])
    expected = [] if row["expected_task_ids"] == "-" else row["expected_task_ids"].split(",")
    assert [task.id for task in parsed.tasks] == expected


@needs_corpus
@pytest.mark.parametrize("row", ROWS, ids=[Path(r["file"]).name for r in ROWS])
def test_every_corpus_file_parses(row: dict[str, str]) -> None:
    """Every corpus file parses as tasks and as a spec document without an exception."""
    data = (SHARED / row["file"]).read_bytes()
    parsed = parse_tasks(data, row["path"])
    index = index_sections(data, row["path"])
    lines = data.count(b"\n") + 1
    for task in parsed.tasks:
        assert 1 <= task.line <= task.end_line <= lines
    for section in index.sections:
        assert 1 <= section.line <= section.end_line <= lines


def test_manifest_covers_both_kinds() -> None:
    """The corpus test sees labelled task files and spec files (or skips for a reason)."""
    if not ROWS:
        pytest.skip(f"the shared corpus is not here ({MANIFEST} missing; CI has it)")
    assert len(LABELLED) >= 22
    assert any(row["file"].startswith("corpus/specs/") for row in ROWS)
