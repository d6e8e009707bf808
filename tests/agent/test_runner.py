"""The agent runner end to end: a real worktree, the real SDK, the fake Messages API."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from daemon import logs
from daemon.agent.budget import estimate_tokens
from daemon.agent.outcome import Ending
from daemon.agent.retry import RetryPolicy
from daemon.demo.modelserver import FakeMessagesAPI, Reply, text, tool_use
from tests.agent.support import (
    API_KEY,
    SERVICE,
    FakeClock,
    events,
    make_project,
    prepared,
    run_agent,
)

SERVICE_PATH = "backend/app/services/tasks.py"
EDITOR = "str_replace_based_edit_tool"


def use(n: int, name: str, **data: object) -> Reply:
    """A reply that calls one tool."""
    return Reply.message([tool_use(f"toolu_{n}", name, dict(data))], "tool_use")


def complete(n: int) -> Reply:
    return use(n, "complete_task", summary="done", assumptions=["none"], spec_refs=["plan.md §3.1"])


def tool_results(fake: FakeMessagesAPI, index: int) -> list[dict]:
    """The tool_result blocks of the last message of request ``index``."""
    content = fake.requests[index].body["messages"][-1]["content"]
    return [block for block in content if block.get("type") == "tool_result"]


def test_implements_a_task_through_the_editor_and_completes(tmp_path):
    """The model views, creates a file, completes; the gates pass; the file is in the worktree."""
    project = make_project(tmp_path)
    with FakeMessagesAPI(api_key=API_KEY) as fake:
        fake.script(
            use(1, EDITOR, command="view", path="backend/app"),
            use(2, EDITOR, command="create", path=SERVICE_PATH, file_text=SERVICE),
            complete(3),
        )
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.COMPLETED, outcome
    assert outcome.files == (SERVICE_PATH,)
    assert project.read(SERVICE_PATH) == SERVICE
    assert outcome.turns == 3
    assert "routes/" in tool_results(fake, 1)[0]["content"]
    assert outcome.usage.requests == 3
    assert outcome.usage.cost_usd > 0
    assert events(tmp_path / "t.jsonl")[-1]["ending"] == "completed"


def test_clarification_carries_missing_consulted_and_questions(tmp_path):
    """request_clarification ends the run with the agent's precise question."""
    project = make_project(tmp_path)
    with FakeMessagesAPI() as fake:
        fake.script(
            use(
                1,
                "request_clarification",
                missing="which statuses a task may have",
                consulted=["spec.md §FR-004", "plan.md §3.1"],
                questions=["May a task be archived?", "Is 'completed' reversible?"],
            )
        )
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.CLARIFICATION
    assert outcome.missing == "which statuses a task may have"
    assert outcome.consulted == ("spec.md §FR-004", "plan.md §3.1")
    assert outcome.questions == ("May a task be archived?", "Is 'completed' reversible?")
    assert not outcome.publishable


def test_breaks_scope_and_fixes_after_two_gate_reports(tmp_path):
    """An out-of-scope write is refused; two failing gate reports are repaired; then it passes."""
    project = make_project(tmp_path)
    unfiltered = SERVICE.replace(".where(Task.user_id == user_id)", "")
    headless = unfiltered.split('"""\n\n', 1)[1]
    header = SERVICE.split('"""\n\n', 1)[0] + '"""\n\n'
    with FakeMessagesAPI() as fake:
        fake.script(
            use(1, EDITOR, command="create", path="backend/tests/test_x.py", file_text="x"),
            use(2, EDITOR, command="create", path=SERVICE_PATH, file_text=headless),
            complete(3),
            use(4, EDITOR, command="insert", path=SERVICE_PATH, insert_line=0, insert_text=header),
            complete(5),
            use(
                6,
                EDITOR,
                command="str_replace",
                path=SERVICE_PATH,
                old_str="select(Task)",
                new_str="select(Task).where(Task.user_id == user_id)",
            ),
            complete(7),
        )
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.COMPLETED
    refused = tool_results(fake, 1)[0]
    assert refused.get("is_error") is True
    assert "scope" in refused["content"]
    assert not (project.worktree / "backend/tests/test_x.py").exists()
    first, second = tool_results(fake, 3)[0], tool_results(fake, 5)[0]
    assert "SK001" in first["content"]
    assert "SK005" in first["content"]
    assert "SK001" not in second["content"]
    assert "SK005" in second["content"]
    rounds = [e["gates"]["passed"] for e in events(tmp_path / "t.jsonl") if "gates" in e]
    assert rounds == [False, False]
    assert outcome.findings == ()
    assert project.read(SERVICE_PATH) == SERVICE


def test_gates_failed_after_the_repair_rounds(tmp_path):
    """With repair_rounds=1, a second failing report ends the run with the findings."""
    project = make_project(tmp_path)
    headless = SERVICE.split('"""\n\n', 1)[1]
    with FakeMessagesAPI() as fake:
        fake.script(
            use(1, EDITOR, command="create", path=SERVICE_PATH, file_text=headless),
            complete(2),
            complete(3),
        )
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl", repair_rounds=1)
    assert outcome.ending is Ending.GATES_FAILED
    assert {f.rule for f in outcome.findings} == {"SK001"}
    assert len(fake.requests) == 3


def never_stops(fake: FakeMessagesAPI) -> None:
    fake.responder = lambda index, _body: use(index, EDITOR, command="view", path="README.md")


def test_a_model_that_never_stops_is_stopped_exactly_at_the_turn_limit(tmp_path):
    """max_turns=5: five requests, then a budget outcome naming the turn limit."""
    project = make_project(tmp_path)
    (project.worktree / "README.md").write_text("hello\n")
    with FakeMessagesAPI() as fake:
        never_stops(fake)
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl", max_turns=5)
    assert outcome.ending is Ending.BUDGET
    assert outcome.limit == "turns"
    assert len(fake.requests) == 5
    assert outcome.turns == 5
    assert "turn limit (5)" in outcome.missing


def test_a_model_that_never_stops_is_stopped_at_the_dollar_limit_without_overshoot(tmp_path):
    """The run stops at the last request whose worst case fits the cost limit."""
    project = make_project(tmp_path)
    (project.worktree / "README.md").write_text("hello\n")
    limit = 0.25
    with FakeMessagesAPI() as fake:
        never_stops(fake)
        outcome = run_agent(
            project, fake.url, tmp_path / "t.jsonl", max_turns=1000, max_cost_usd=limit
        )
    assert outcome.ending is Ending.BUDGET
    assert outcome.limit == "dollars"
    spent = outcome.usage.cost_usd
    assert spent <= limit
    # It stopped because the next request's worst case would cross the limit, and that
    # worst case covers at least the last request sent, priced as an uncached write.
    next_cost = float(re.search(r"\$([0-9.]+)$", outcome.detail).group(1))
    assert spent + next_cost > limit
    prices = prepared(project).spec.prices
    last = estimate_tokens(len(json.dumps(fake.requests[-1].body).encode()))
    assert next_cost >= (last * prices.cache_write + 1024 * prices.output) / 1e6
    assert outcome.turns == len(fake.requests) > 3


def test_a_model_that_never_stops_is_stopped_at_the_time_limit(tmp_path):
    """Wall time is checked before each request (with an injected clock)."""
    project = make_project(tmp_path)
    (project.worktree / "README.md").write_text("hello\n")
    clock = FakeClock()
    with FakeMessagesAPI(clock=clock) as fake:

        def slow(index, _body):
            clock.now += 400  # each answer takes 400 s of the run's 30 minutes
            return use(index, EDITOR, command="view", path="README.md")

        fake.responder = slow
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl", clock=clock)
    assert outcome.limit == "time"
    assert len(fake.requests) == 5  # 0, 400, ..., 1600 s start; at 2000 s the time is up


ESCAPES = [
    {"command": "view", "path": "../main/.git/config"},
    {"command": "view", "path": "/etc/passwd"},
    {"command": "view", "path": "link-passwd"},
    {"command": "view", "path": "link-gitconfig"},
    {"command": "create", "path": "link-gitconfig", "file_text": "[core]\n\tfsmonitor = evil\n"},
    {"command": "create", "path": "backend/app/../../../outside/x.py", "file_text": "x"},
    {"command": "create", "path": "backend/app/out/evil.py", "file_text": "x"},
]


def test_escapes_are_refused_and_nothing_outside_is_read_or_written(tmp_path):
    """``..``, absolute paths and symlinks to /etc/passwd and the main .git/config all fail."""
    project = make_project(tmp_path)
    (project.worktree / "link-passwd").symlink_to("/etc/passwd")
    git_config = project.repo.path / ".git" / "config"
    (project.worktree / "link-gitconfig").symlink_to(git_config)
    (project.worktree / "backend/app/out").symlink_to(project.outside)
    before = git_config.read_bytes()
    with FakeMessagesAPI() as fake:
        fake.script(*(use(i, EDITOR, **c) for i, c in enumerate(ESCAPES)))
        fake.script(use(99, "request_clarification", missing="-", consulted=[], questions=["?"]))
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.CLARIFICATION
    for index in range(1, len(ESCAPES) + 1):
        [result] = tool_results(fake, index)
        assert result.get("is_error") is True, (ESCAPES[index - 1], result)
        assert "root:" not in result["content"]
        assert "[core]" not in result["content"]
    assert git_config.read_bytes() == before
    assert list(project.outside.iterdir()) == []
    assert outcome.files == ()


def test_a_529_storm_of_60_s_is_waited_out_under_the_rate_ceiling(tmp_path):
    """Every request fails for 60 s; the run then completes, never above 6 requests a minute."""
    project = make_project(tmp_path)
    clock = FakeClock()
    storm_end = clock.now + 60
    with FakeMessagesAPI(clock=clock) as fake:
        script = [
            use(1, EDITOR, command="create", path=SERVICE_PATH, file_text=SERVICE),
            complete(2),
        ]

        def storm(_index, _body):
            if clock.now < storm_end:
                return Reply.error(529, "overloaded_error", "Overloaded")
            return script.pop(0)

        fake.responder = storm
        outcome = run_agent(
            project,
            fake.url,
            tmp_path / "t.jsonl",
            clock=clock,
            policy=RetryPolicy(max_wait=600, max_per_minute=6),
        )
    assert outcome.ending is Ending.COMPLETED
    during = [r for r in fake.requests if r.at < storm_end]
    assert all(r.status == 529 for r in during)
    assert 2 <= len(during) <= 6
    assert [r.status for r in fake.requests[len(during) :]] == [200, 200]


def test_a_storm_longer_than_the_retry_wait_fails_the_run_with_the_reason(tmp_path):
    """When 529s outlast max_wait the run fails, saying so, and makes no further request."""
    project = make_project(tmp_path)
    clock = FakeClock()
    with FakeMessagesAPI(clock=clock) as fake:
        fake.responder = lambda _i, _b: Reply.error(529, "overloaded_error", "Overloaded")
        outcome = run_agent(
            project, fake.url, tmp_path / "t.jsonl", clock=clock, policy=RetryPolicy(max_wait=60)
        )
    assert outcome.ending is Ending.FAILED
    assert "529" in outcome.detail
    assert "gave up" in outcome.detail
    assert sum(clock.sleeps) <= 60


def test_a_request_that_times_out_is_retried(tmp_path):
    """A reply slower than the request timeout counts as a timeout, and the turn is retried."""
    project = make_project(tmp_path)
    late = threading.Event()
    with FakeMessagesAPI() as fake:
        fake.script(
            Reply.message([text("too late")], hold=late),
            use(1, "request_clarification", missing="-", consulted=[], questions=["?"]),
        )
        try:
            outcome = run_agent(project, fake.url, tmp_path / "t.jsonl", timeout=0.5)
        finally:
            late.set()
    assert outcome.ending is Ending.CLARIFICATION
    assert len(fake.requests) == 2
    assert "too late" not in str(fake.requests[1].body)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_not_retried(tmp_path, status):
    """400/401/403 end the run after one request."""
    project = make_project(tmp_path)
    kinds = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
    with FakeMessagesAPI() as fake:
        fake.script(Reply.error(status, kinds[status], "no"))
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.FAILED
    assert str(status) in outcome.detail
    assert len(fake.requests) == 1


def test_retry_after_is_honoured_beyond_the_sdk_cap(tmp_path):
    """A 429 asking for 120 s is followed by a request no sooner than 120 s later."""
    project = make_project(tmp_path)
    clock = FakeClock()
    with FakeMessagesAPI(clock=clock) as fake:
        fake.script(
            Reply.error(429, "rate_limit_error", "slow down", headers={"retry-after": "120"}),
            use(1, "request_clarification", missing="-", consulted=[], questions=["?"]),
        )
        run_agent(project, fake.url, tmp_path / "t.jsonl", clock=clock)
    assert fake.requests[1].at - fake.requests[0].at >= 120


def test_a_tool_use_cut_at_max_tokens_is_never_executed(tmp_path):
    """A reply stopped at max_tokens is dropped, not run; the turn is asked again with more room."""
    project = make_project(tmp_path)
    with FakeMessagesAPI() as fake:
        fake.script(
            Reply.message(
                [
                    text("Creating the service."),
                    tool_use("toolu_cut", EDITOR, {"command": "create", "path": SERVICE_PATH}),
                ],
                "max_tokens",
            ),
            use(2, "request_clarification", missing="-", consulted=[], questions=["?"]),
        )
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert not (project.worktree / SERVICE_PATH).exists()
    second = fake.requests[1].body
    assert second["max_tokens"] == 2 * fake.requests[0].body["max_tokens"]
    assert "toolu_cut" not in str(second["messages"])
    assert outcome.ending is Ending.CLARIFICATION
    assert not any(e["event"] == "tool" for e in events(tmp_path / "t.jsonl"))


@pytest.mark.parametrize(
    ("stop_reason", "ending"),
    [
        ("refusal", Ending.REFUSED),
        ("model_context_window_exceeded", Ending.FAILED),
        ("something_new", Ending.FAILED),
    ],
)
def test_stop_reasons_that_end_a_run(tmp_path, stop_reason, ending):
    """Refusal → refused; a full context window and unknown reasons → failed, said why."""
    project = make_project(tmp_path)
    with FakeMessagesAPI() as fake:
        fake.script(Reply.message([text("No.")], stop_reason))
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is ending
    assert outcome.detail
    assert len(fake.requests) == 1


def test_pause_turn_is_continued_and_end_turn_is_nudged(tmp_path):
    """pause_turn sends the assistant content back; a plain end_turn gets one nudge."""
    project = make_project(tmp_path)
    with FakeMessagesAPI() as fake:
        fake.script(
            Reply.message([text("Thinking...")], "pause_turn"),
            Reply.message([text("I am done.")], "end_turn"),
            use(3, "request_clarification", missing="-", consulted=[], questions=["?"]),
        )
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.CLARIFICATION
    assert fake.requests[1].body["messages"][-1]["role"] == "assistant"
    nudge = fake.requests[2].body["messages"][-1]
    assert nudge["role"] == "user"
    assert "complete_task" in str(nudge["content"])


def test_the_api_key_never_appears_in_transcripts_logs_or_errors(tmp_path, capsys):
    """A canary key echoed by the server is hidden from the transcript, logs and exception text."""
    logs.configure(json=True)
    project = make_project(tmp_path)
    transcript = tmp_path / "t.jsonl"
    with FakeMessagesAPI(api_key=API_KEY) as fake:
        fake.script(
            use(1, EDITOR, command="create", path="backend/app/k.py", file_text=f"K = '{API_KEY}'"),
            Reply.error(400, "invalid_request_error", f"key {API_KEY} is not allowed here"),
        )
        outcome = run_agent(project, fake.url, transcript)
    assert fake.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert outcome.ending is Ending.FAILED
    assert "400" in outcome.detail
    captured = capsys.readouterr()
    for where in (
        transcript.read_text(),
        captured.out,
        captured.err,
        outcome.detail,
        repr(outcome),
    ):
        assert API_KEY not in where
    assert "agent.turn" in captured.err


def test_a_finished_run_resumed_returns_its_outcome_without_requests(tmp_path):
    """Running again on a transcript that ended sends nothing and returns the same outcome."""
    project = make_project(tmp_path)
    transcript = tmp_path / "t.jsonl"
    with FakeMessagesAPI() as fake:
        fake.script(use(1, "request_clarification", missing="m", consulted=[], questions=["q"]))
        first = run_agent(project, fake.url, transcript)
        again = run_agent(project, fake.url, transcript)
    assert len(fake.requests) == 1
    assert again == first


def test_transcript_events_record_every_turn_with_usage(tmp_path):
    """Each answered request is one event with its usage; the context is stored once."""
    project = make_project(tmp_path)
    transcript = tmp_path / "t.jsonl"
    with FakeMessagesAPI() as fake:
        fake.script(
            use(1, EDITOR, command="view", path="backend"),
            use(2, "request_clarification", missing="m", consulted=[], questions=["q"]),
        )
        run_agent(project, fake.url, transcript)
    found = events(transcript)
    turns = [e for e in found if e["event"] == "message" and e.get("turn")]
    assert [e["turn"] for e in turns] == [1, 2]
    assert all(set(e["usage"]) == {"input", "output", "cache_read", "cache_write"} for e in turns)
    assert found[0]["event"] == "start"
    assert found[-1]["event"] == "outcome"
    assert Path(transcript).stat().st_size > 0


def test_empty_replies_never_enter_the_conversation(tmp_path):
    """An end_turn with no content is dropped and nudged; the API's rules hold throughout."""
    project = make_project(tmp_path)
    with FakeMessagesAPI() as fake:
        fake.script(
            Reply.message([], "end_turn"),
            use(1, "request_clarification", missing="-", consulted=[], questions=["?"]),
        )
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.CLARIFICATION
    assert [r.status for r in fake.requests] == [200, 200]
    assert all(m["content"] for m in fake.requests[1].body["messages"])


@pytest.mark.parametrize("stop_reason", ["end_turn", "stop_sequence"])
def test_a_model_that_only_talks_fails_after_two_nudges(tmp_path, stop_reason):
    """Three text-only turns in a row: two nudges, then a failed run that says why."""
    project = make_project(tmp_path)
    with FakeMessagesAPI() as fake:
        fake.script(*(Reply.message([text(f"thinking {n}")], stop_reason) for n in range(3)))
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl")
    assert outcome.ending is Ending.FAILED
    assert "without calling complete_task" in outcome.detail
    assert len(fake.requests) == 3


def test_replies_cut_at_the_output_ceiling_fail_the_run(tmp_path):
    """max_tokens doubles up to four times the setting, then the run fails, saying so."""
    project = make_project(tmp_path)
    with FakeMessagesAPI() as fake:
        fake.script(*(Reply.message([text("...")], "max_tokens") for _ in range(3)))
        outcome = run_agent(project, fake.url, tmp_path / "t.jsonl", max_output_tokens=1000)
    assert [r.body["max_tokens"] for r in fake.requests] == [1000, 2000, 4000]
    assert outcome.ending is Ending.FAILED
    assert "max_tokens (4000)" in outcome.detail


def test_the_dollar_limit_holds_when_the_api_counts_more_than_the_bytes(tmp_path):
    """Usage above bytes/4 (the API's tool overhead) still never crosses the cost limit."""
    project = make_project(tmp_path)
    (project.worktree / "README.md").write_text("hello\n")
    limit = 0.2
    with FakeMessagesAPI() as fake:

        def heavy(index, body):
            size = len(json.dumps(body).encode())
            return Reply.message(
                [tool_use(f"toolu_{index}", EDITOR, {"command": "view", "path": "README.md"})],
                "tool_use",
                usage={"input_tokens": size // 4 + 1046, "output_tokens": 1024},
            )

        fake.responder = heavy
        outcome = run_agent(
            project, fake.url, tmp_path / "t.jsonl", max_turns=1000, max_cost_usd=limit
        )
    assert outcome.limit == "dollars"
    assert outcome.usage.cost_usd <= limit


def test_the_canary_key_stays_hidden_through_retries_and_giving_up(tmp_path, capsys):
    """Retried 529s that echo the key, then giving up: no trace of the key anywhere."""
    logs.configure(json=True)
    project = make_project(tmp_path)
    clock = FakeClock()
    transcript = tmp_path / "t.jsonl"
    with FakeMessagesAPI(api_key=API_KEY, clock=clock) as fake:
        fake.responder = lambda _i, _b: Reply.error(529, "overloaded_error", f"busy {API_KEY}")
        outcome = run_agent(
            project, fake.url, transcript, clock=clock, policy=RetryPolicy(max_wait=30)
        )
    assert outcome.ending is Ending.FAILED
    captured = capsys.readouterr()
    for where in (transcript.read_text(), captured.out, captured.err, outcome.detail):
        assert API_KEY not in where
    assert "agent.retry" in captured.err


def test_a_write_applied_before_a_kill_is_not_applied_again(tmp_path):
    """A kill between an insert and its saved result: the resumed run does not insert twice."""
    project = make_project(tmp_path)
    transcript = tmp_path / "t.jsonl"
    insert = {"command": "insert", "path": SERVICE_PATH, "insert_line": 0, "insert_text": "# one\n"}
    with FakeMessagesAPI() as fake:
        fake.script(
            use(1, EDITOR, command="create", path=SERVICE_PATH, file_text=SERVICE),
            use(2, EDITOR, **insert),
            use(3, "request_clarification", missing="-", consulted=[], questions=["?"]),
        )
        run_agent(project, fake.url, transcript)
        # Cut the transcript just after turn 2's intent: the insert ran, its result is lost.
        lines = transcript.read_text().splitlines()
        cut = next(i for i, line in enumerate(lines) if '"intent"' in line and "toolu_2" in line)
        transcript.write_text("\n".join(lines[: cut + 1]) + "\n")
        fake.script(use(3, "request_clarification", missing="-", consulted=[], questions=["?"]))
        outcome = run_agent(project, fake.url, transcript)
    assert outcome.ending is Ending.CLARIFICATION
    assert project.read(SERVICE_PATH).count("# one") == 1
    assert "applied before a restart" in str(fake.requests[-1].body["messages"][-1])


def test_a_failed_gate_round_survives_a_restart(tmp_path):
    """The gate report is saved with complete_task's result: a resume does not rerun it."""
    project = make_project(tmp_path)
    transcript = tmp_path / "t.jsonl"
    headless = SERVICE.split('"""\n\n', 1)[1]
    with FakeMessagesAPI() as fake:
        fake.script(
            use(1, EDITOR, command="create", path=SERVICE_PATH, file_text=headless),
            complete(2),
            Reply.message([text("no")], "refusal"),
        )
        run_agent(project, fake.url, transcript, repair_rounds=1)
        # Restart right after the failed round was saved.
        lines = transcript.read_text().splitlines()
        cut = next(i for i, line in enumerate(lines) if '"gates"' in line)
        transcript.write_text("\n".join(lines[: cut + 1]) + "\n")
        fake.script(complete(3))
        outcome = run_agent(project, fake.url, transcript, repair_rounds=1)
    assert outcome.ending is Ending.GATES_FAILED  # round 1 counted from the transcript
    assert len(fake.requests) == 4
    assert sum('"gates"' in line for line in transcript.read_text().splitlines()) == 1
