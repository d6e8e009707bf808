"""References: every form of DESIGN §2, ranges, and resolution against section indexes."""

from __future__ import annotations

import pytest

from daemon.spec.layout import documents_for
from daemon.spec.refs import expand, extract, resolve
from daemon.spec.sections import index_sections

SPEC = b"""# Feature Specification

## User Scenarios & Testing

### User Story 1 - Sign up (Priority: P1)
text
### User Story 2 - Sign in (Priority: P1)
### User Story 3 - Sign out (Priority: P2)

## Requirements

### Functional Requirements

- **FR-001**: System MUST let users sign up.
  continued line
- **FR-002**: System MUST let users sign in.

### F-1: Task Management

```
## 9.9 Not a heading: inside a fence
```
"""

PLAN = b"""# Plan

## Architecture

### 2.1 Backend
### 2.2 Frontend

## Design Decisions

### 1. Containers
### 2. Kubernetes

## 4. Rollout
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("speckit.plan §2.1", [("plan", "2.1")]),
        ("speckit.specify FR-1", [("spec", "FR-1")]),
        ("spec.md §US1", [("spec", "US1")]),
        ("§User Stories", [(None, "User Stories")]),
        ("spec.md §US1-US3", [("spec", "US1"), ("spec", "US2"), ("spec", "US3")]),
        ("plan.md §DD-001 and more", [("plan", "DD-001")]),
        ("speckit.plan: Section 1 (MONOREPO)", [("plan", "1")]),
        ("Specify: Section 12.1 / Plan: Section 8", [("spec", "12.1"), ("plan", "8")]),
        ("see speckit.constitution", [("constitution", None)]),
        ("contracts/openapi.yaml", [("contracts/openapi.yaml", None)]),
        ("per implementation plan in the spec", []),
    ],
)
def test_reference_forms(text, expected):
    """Each reference form of DESIGN §2 yields its document kind and section."""
    assert [(r.doc, r.section) for r in extract(text, 7)] == expected


def test_bare_labels_count_only_in_reference_fields():
    """'FR-1' alone is a reference in a Spec field or column, not in prose."""
    assert extract("implements FR-1 today", 1) == []
    assert [(r.doc, r.section) for r in extract("FR-1, REQ-01", 1, bare=True)] == [
        (None, "FR-1"),
        (None, "REQ-01"),
    ]
    assert [(r.doc, r.section) for r in extract("Section 3", 1, bare=True, doc="plan")] == [
        ("plan", "3")
    ]


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("US1-US3", ["US1", "US2", "US3"]),
        ("FR-001–FR-003", ["FR1", "FR2", "FR3"]),
        ("US1–3", ["US1", "US2", "US3"]),
        ("2.1-2.3", ["2.1", "2.2", "2.3"]),
        ("US1-US999", ["US1", "US999"]),
        ("FR-1", ["FR-1"]),
    ],
)
def test_ranges_expand(text, members):
    """Ranges expand to their members; absurdly long ones stay as their two ends."""
    assert expand(text) == members


def test_resolution_against_headings_labels_stories_and_decisions():
    """References resolve to numbered headings, bold labels, user stories and design decisions."""
    docs = {
        "spec": index_sections(SPEC, "specs/001/spec.md"),
        "plan": index_sections(PLAN, "specs/001/plan.md"),
    }
    cases = {
        "spec.md §US2": ("specs/001/spec.md", 7),
        "spec.md §FR-001": ("specs/001/spec.md", 14),
        "speckit.specify §F-1": ("specs/001/spec.md", 18),
        "plan.md §2.2": ("specs/001/plan.md", 6),
        "plan.md §DD-002": ("specs/001/plan.md", 11),
        "plan.md §4": ("specs/001/plan.md", 13),
        "§Functional Requirements": ("specs/001/spec.md", 12),
    }
    for text, (path, line) in cases.items():
        (ref,) = extract(text, 1)
        result = resolve(ref, docs)
        assert result.resolved, (text, result.problem)
        assert (result.path, result.sections[0].line) == (path, line), text
    fr = resolve(extract("spec.md §FR-001", 1)[0], docs).sections[0]
    assert fr.end_line == 15  # the continuation line belongs to the label


def test_unresolvable_references_explain_why():
    """A missing section or document is a problem string, not an exception."""
    docs = {"spec": index_sections(SPEC, "spec.md")}
    missing_section = resolve(extract("spec.md §9.9", 1)[0], docs)
    missing_doc = resolve(extract("plan.md §1", 1)[0], docs)
    assert missing_section.problem == "'spec.md §9.9': no section '9.9' in spec.md"
    assert missing_doc.problem == "no plan document found for 'plan.md §1'"


def test_documents_for_both_layouts():
    """Task files find their spec, plan, contracts and constitution in both layouts."""
    paths = {
        "specs/001-auth/tasks.md",
        "specs/001-auth/spec.md",
        "specs/001-auth/plan.md",
        "specs/001-auth/contracts/openapi.yaml",
        ".specify/memory/constitution.md",
        "speckit.tasks",
        "speckit.specify",
        "speckit.plan",
        "speckit.constitution",
    }
    assert documents_for("specs/001-auth/tasks.md", paths) == {
        "spec": "specs/001-auth/spec.md",
        "plan": "specs/001-auth/plan.md",
        "constitution": ".specify/memory/constitution.md",
        "contracts/openapi.yaml": "specs/001-auth/contracts/openapi.yaml",
    }
    assert documents_for("speckit.tasks", paths) == {
        "spec": "speckit.specify",
        "plan": "speckit.plan",
        "constitution": "speckit.constitution",
    }
