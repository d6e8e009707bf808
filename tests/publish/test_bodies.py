"""Pull request and issue texts: what reviewers read, neutralized, with one marker at the end."""

from __future__ import annotations

from dataclasses import replace

import pytest

from daemon.agent.outcome import Ending, Outcome, Usage
from daemon.gates.model import LintFinding, Severity
from daemon.naming import marker, read_marker
from daemon.publish.bodies import Job, SpecLink, issue_body, issue_title, pr_body, title_of

HOSTS = frozenset({"github.com"})
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "abcdef0123456789" + "0" * 48
BLOB = f"https://github.com/acme/todo/blob/{COMMIT}/"
JOB = Job(
    repo="acme/todo",
    task_id="T009",
    key="T9",
    title="Add the task service",
    digest=DIGEST,
    task_path="specs/001-todo/tasks.md",
    task_line=31,
    approving_commit=COMMIT,
    approver="alice",
    refs=(
        SpecLink("plan.md §3.1", "specs/001-todo/plan.md", 18),
        SpecLink("spec.md", "specs/001-todo/spec.md"),
    ),
    blob_url=BLOB,
    transcript="/var/lib/speckitd/runs/7/transcript.jsonl",
    rules=frozenset({"SK001", "SK002", "SK003"}),
)
COMPLETED = Outcome(
    Ending.COMPLETED,
    summary="Added the service; thanks @bob, fixes #3 ![x](https://evil.com/p.png?d=k)",
    assumptions=("tasks are never shared", "ask @carol <b>first</b>"),
    turns=4,
    usage=Usage(1200, 300, 9000, 800, 0.0421, 4),
)


def finding(rule: str, severity: Severity = Severity.ERROR, message: str = "bad") -> LintFinding:
    return LintFinding(rule, severity, "backend/app/services/tasks.py", 7, message)


def last_line(body: str) -> str:
    return body.rstrip("\n").splitlines()[-1]


def test_pr_title_is_the_task_id_and_title_cut_at_250():
    """The title is 'ID: title', never longer than 250 characters."""
    assert title_of(JOB) == "T009: Add the task service"
    long = title_of(replace(JOB, title="x" * 400))
    assert len(long) == 250
    assert long.startswith("T009: xxx")


def test_pr_body_names_the_task_its_approval_and_the_approver():
    """Task ID and title, the approving commit's first 12 characters and the approver."""
    body = pr_body(JOB, COMPLETED, HOSTS, ticked=True)
    assert f"**Task:** T009 — Add the task service ([`specs/001-todo/tasks.md:31`]({BLOB}" in body
    assert f"\n**Approved in:** `{COMMIT[:12]}` by `alice`\n" in body


def test_pr_body_links_spec_sections_to_their_lines_when_a_blob_url_is_known():
    """With blob_url each reference is a Markdown link with #L<line> (no anchor for line 0)."""
    body = pr_body(JOB, COMPLETED, HOSTS, ticked=True)
    assert (
        "**Spec:** plan.md §3.1 "
        f"([`specs/001-todo/plan.md:18`]({BLOB}specs/001-todo/plan.md#L18)), "
        f"spec.md ([`specs/001-todo/spec.md`]({BLOB}specs/001-todo/spec.md))"
    ) in body
    assert f"({BLOB}specs/001-todo/tasks.md#L31)" in body


def test_pr_body_shows_plain_paths_in_code_spans_without_a_blob_url():
    """Without blob_url references are code spans: `path:line`."""
    body = pr_body(replace(JOB, blob_url=""), COMPLETED, HOSTS, ticked=True)
    assert (
        "**Spec:** plan.md §3.1 (`specs/001-todo/plan.md:18`), spec.md (`specs/001-todo/spec.md`)"
        in body
    )
    assert "(`specs/001-todo/tasks.md:31`)" in body
    assert "](" not in body.split("### Summary")[0]


def test_pr_body_without_references_or_approver_says_so():
    """No references: 'no references'; no approver: 'unknown'."""
    body = pr_body(replace(JOB, refs=(), approver=""), COMPLETED, HOSTS, ticked=True)
    assert "**Spec:** no references" in body
    assert f"`{COMMIT[:12]}` by unknown" in body


def test_pr_body_neutralizes_the_summary_and_assumptions():
    """The summary is a code block and assumptions code spans: no mention, closer, HTML, image."""
    body = pr_body(JOB, COMPLETED, HOSTS, ticked=True)
    assert (
        "### Summary\n\n```text\nAdded the service; thanks @bob, fixes #3 "
        "![x]((link removed))\n```\n"
    ) in body
    assert "- `tasks are never shared`\n- `ask @carol \u2039b>first\u2039/b>`\n" in body
    assert "evil.com" not in body
    assert "<b>" not in body


def test_pr_body_without_summary_or_assumptions_says_so():
    """An empty summary reads '(no summary)'; no assumptions read '- none'."""
    body = pr_body(JOB, Outcome(Ending.COMPLETED), HOSTS, ticked=True)
    assert "### Summary\n\n(no summary)\n" in body
    assert "### Assumptions\n\n- none\n" in body


@pytest.mark.parametrize(
    ("findings", "rows"),
    [
        (
            (),
            [
                "| SK001 | reference-header | ✅ pass |",
                "| SK002 | write-scope | ✅ pass |",
                "| SK003 | no-frontend | ✅ pass |",
            ],
        ),
        (
            (
                finding("SK002"),
                finding("SK002"),
                finding("SK003", Severity.WARNING),
                finding("SK001", Severity.ERROR),
                finding("SK001", Severity.WARNING),
            ),
            [
                "| SK001 | reference-header | ❌ 1 error |",
                "| SK002 | write-scope | ❌ 2 errors |",
                "| SK003 | no-frontend | ⚠️ 1 warning |",
            ],
        ),
        (
            (finding("SK007", Severity.WARNING), finding("SK007", Severity.WARNING)),
            [
                "| SK001 | reference-header | ✅ pass |",
                "| SK002 | write-scope | ✅ pass |",
                "| SK003 | no-frontend | ✅ pass |",
                "| SK007 | no-secrets | ⚠️ 2 warnings |",
            ],
        ),
        (
            (finding("XX9", Severity.WARNING),),
            [
                "| SK001 | reference-header | ✅ pass |",
                "| SK002 | write-scope | ✅ pass |",
                "| SK003 | no-frontend | ✅ pass |",
                "| XX9 | XX9 | ⚠️ 1 warning |",
            ],
        ),
    ],
    ids=["all-pass", "errors-and-warnings", "unconfigured-rule", "unknown-rule"],
)
def test_pr_body_gate_table_has_a_row_per_rule_with_its_result(findings, rows):
    """One row per configured rule or finding's rule, sorted: pass, N errors or N warnings."""
    body = pr_body(JOB, replace(COMPLETED, findings=findings), HOSTS, ticked=True)
    table = "\n".join(["| rule | check | result |", "| --- | --- | --- |", *rows])
    assert f"### Gates\n\n{table}\n\n" in body


def test_pr_body_lists_findings_neutralized_and_cut_at_fifty():
    """Findings appear under <details>, first line only, neutralized; past 50 a count remains."""
    many = tuple(finding("SK002", message=f"issue {n} @bob\nsecond line") for n in range(53))
    body = pr_body(JOB, replace(COMPLETED, findings=many), HOSTS, ticked=True)
    assert "<details><summary>Findings</summary>" in body
    assert "- `backend/app/services/tasks.py:7` SK002: `issue 0 @bob`" in body
    assert "`issue 49 @bob`" in body
    assert "issue 50" not in body
    assert "- … 3 more" in body
    assert "second line" not in body


def test_pr_body_reports_usage_and_transcript():
    """Turns, token counts with separators, cost to 4 places, and where the transcript is."""
    body = pr_body(JOB, COMPLETED, HOSTS, ticked=True)
    assert (
        "**Usage:** 4 turns · input 1,200 · output 300 · cache read 9,000 · cache write 800 "
        "· $0.0421"
    ) in body
    assert "**Transcript:** `/var/lib/speckitd/runs/7/transcript.jsonl`" in body
    kept_nowhere = pr_body(replace(JOB, transcript=""), COMPLETED, HOSTS, ticked=True)
    assert "**Transcript:** `not kept`" in kept_nowhere


@pytest.mark.parametrize(
    ("ticked", "said", "not_said"),
    [
        (True, "Merging marks the task done in its task file.", "could not be marked done"),
        (
            False,
            "The task file could not be marked done safely: tick the task after merging.",
            "Merging marks the task done",
        ),
    ],
)
def test_pr_body_says_whether_merging_ticks_the_task(ticked, said, not_said):
    """Ticked: merging marks it done; not ticked: the reviewer is told to tick it."""
    body = pr_body(JOB, COMPLETED, HOSTS, ticked=ticked)
    assert said in body
    assert not_said not in body


def test_pr_body_ends_with_exactly_one_marker():
    """The marker is the last line, appears once, and reads back as (key, digest12)."""
    forged = replace(COMPLETED, summary="<!-- speckitd:task=T9 digest=000000000000 -->")
    body = pr_body(JOB, forged, HOSTS, ticked=True)
    assert last_line(body) == marker("T9", DIGEST)
    assert body.count("speckitd:task=") == 2  # the forged one, escaped, and ours
    assert body.count("<!--") == 1
    assert read_marker(body) == ("T9", DIGEST[:12])
    assert body.endswith("-->\n")


def test_finding_paths_cannot_forge_a_marker_or_a_mention():
    """Finding paths name files the agent created: they must not inject a marker or a mention."""
    path = "backend/app/<!-- speckitd:task=T9 digest=000000000000 -->` @bob `.py"
    hostile = LintFinding("SK006", Severity.WARNING, path, 1, "no docstring")
    body = pr_body(JOB, replace(COMPLETED, findings=(hostile,)), HOSTS, ticked=True)
    assert read_marker(body) == ("T9", DIGEST[:12])
    assert body.count("<!--") == 1
    shown = "``backend/app/\u2039!-- speckitd:task=T9 digest=000000000000 -->` @bob `.py:1``"
    assert f"- {shown} SK006: `no docstring`" in body


ENDINGS = [
    (Ending.CLARIFICATION, "The agent stopped to ask before implementing this task."),
    (Ending.BUDGET, "The run ended when its budget ran out, before the task was done."),
    (Ending.GATES_FAILED, "The agent's work still failed the gates after the repair rounds."),
    (Ending.REFUSED, "The model declined to implement this task."),
    (Ending.FAILED, "The run could not finish."),
]


@pytest.mark.parametrize(("ending", "reason"), ENDINGS)
def test_issue_body_opens_with_the_reason_and_ends_with_the_marker(ending, reason):
    """Every non-completed ending explains itself first and carries one marker last."""
    body = issue_body(JOB, Outcome(ending, missing="x"), HOSTS)
    assert body.startswith(reason + "\n\n**Task:** T009 — Add the task service")
    assert last_line(body) == marker("T9", DIGEST)
    assert body.count("<!--") == 1
    assert read_marker(body) == ("T9", DIGEST[:12])


@pytest.mark.parametrize(
    ("ending", "title"),
    [
        (Ending.CLARIFICATION, "T009 needs clarification: Add the task service"),
        (Ending.BUDGET, "T009 was not completed: Add the task service"),
        (Ending.GATES_FAILED, "T009 was not completed: Add the task service"),
        (Ending.REFUSED, "T009 was not completed: Add the task service"),
        (Ending.FAILED, "T009 was not completed: Add the task service"),
    ],
)
def test_issue_title_says_clarification_or_not_completed(ending, title):
    """A clarification 'needs clarification'; any other ending 'was not completed'."""
    assert issue_title(JOB, Outcome(ending)) == title


@pytest.mark.parametrize("ending", [Ending.CLARIFICATION, Ending.FAILED])
def test_issue_title_is_cut_at_250(ending):
    """Long task titles are cut so the issue title is at most 250 characters."""
    assert len(issue_title(replace(JOB, title="y" * 400), Outcome(ending))) == 250


def test_clarification_issue_lists_missing_consulted_and_numbered_questions():
    """What is missing, what was read and each question numbered, all shown as code."""
    outcome = Outcome(
        Ending.CLARIFICATION,
        missing="whether @bob wants archived tasks",
        consulted=("spec.md §FR-003", "plan.md <§2>"),
        questions=("Are archived tasks listed?", "Should fixes #4 apply?", "Who is @carol?"),
    )
    body = issue_body(JOB, outcome, HOSTS)
    assert "### What is missing\n\n```text\nwhether @bob wants archived tasks\n```\n" in body
    assert "### Consulted\n\n- `spec.md §FR-003`\n- `plan.md \u2039§2>`\n" in body
    assert (
        "### Questions\n\n1. `Are archived tasks listed?`\n2. `Should fixes #4 apply?`\n"
        "3. `Who is @carol?`\n"
    ) in body


def test_issue_how_to_answer_names_the_task_file():
    """The reader learns to edit the task in its file and approve it again."""
    body = issue_body(JOB, Outcome(Ending.CLARIFICATION), HOSTS)
    assert "### How to answer" in body
    assert "Edit the task (or the spec sections it cites) in `specs/001-todo/tasks.md`" in body
    assert "approve it again" in body


def test_issue_without_details_says_so_and_has_no_questions_heading():
    """Nothing missing or detailed: '(not said)'; nothing consulted: '- none'; no questions."""
    body = issue_body(JOB, Outcome(Ending.FAILED), HOSTS)
    assert "### What is missing\n\n(not said)\n" in body
    assert "### Consulted\n\n- none\n" in body
    assert "### Questions" not in body
    assert "### Gates" not in body


def test_issue_falls_back_to_detail_when_nothing_is_missing():
    """A failed run's detail (neutralized) stands in for what is missing."""
    body = issue_body(JOB, Outcome(Ending.FAILED, detail="API error <500> for @bob"), HOSTS)
    assert "### What is missing\n\n```text\nAPI error \u2039500> for @bob\n```\n" in body


def test_gates_failed_issue_has_the_gate_table_and_usage():
    """A gates-failed issue shows the table of results, usage and transcript."""
    outcome = Outcome(
        Ending.GATES_FAILED,
        findings=(finding("SK002"),),
        turns=9,
        usage=Usage(10, 20, 30, 40, 1.5, 2),
    )
    body = issue_body(JOB, outcome, HOSTS)
    assert "| SK002 | write-scope | ❌ 1 error |" in body
    assert "| SK001 | reference-header | ✅ pass |" in body
    assert (
        "**Usage:** 9 turns · input 10 · output 20 · cache read 30 · cache write 40 · $1.5000"
    ) in body
    assert "**Transcript:** `/var/lib/speckitd/runs/7/transcript.jsonl`" in body


def test_paths_and_approvers_the_repository_chose_stay_inert():
    """A folder name or an author name with Markdown in it cannot add a heading or mention."""
    job = replace(
        JOB,
        task_path="specs/x`\n# Pwned @team fixes #1/tasks.md",
        approver="Eve @org/admins <eve@example.com>",
        blob_url=BLOB,
    )
    body = pr_body(job, COMPLETED, HOSTS, ticked=True)
    assert "\n# Pwned" not in body
    assert "[``specs/x` # Pwned @team fixes #1/tasks.md:31``](" in body
    assert "specs/x%60%0A%23%20Pwned%20%40team%20fixes%20%231/tasks.md#L31" in body
    assert "by `Eve @org/admins \u2039eve@example.com>`" in body
