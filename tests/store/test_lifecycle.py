"""The job lifecycle table: exactly the allowed transitions, and nothing out of the end."""

from __future__ import annotations

import itertools
import re

import pytest

from daemon.errors import SpeckitdError
from daemon.store import lifecycle
from daemon.store.lifecycle import (
    ACTIVE,
    IN_FLIGHT,
    TABLE,
    TERMINAL,
    IllegalTransitionError,
    JobState,
    allowed,
    check,
)

S = JobState
# Written out independently of TABLE: the edges the design allows, and no others.
ALLOWED = {
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.WAITING),
    (S.QUEUED, S.SUPERSEDED),
    (S.WAITING, S.QUEUED),
    (S.WAITING, S.SUPERSEDED),
    (S.RUNNING, S.PUBLISHING),
    (S.RUNNING, S.QUEUED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.SUPERSEDED),
    (S.PUBLISHING, S.PUBLISHED),
    (S.PUBLISHING, S.QUEUED),
    (S.PUBLISHING, S.FAILED),
    (S.PUBLISHED, S.DONE),
    (S.PUBLISHED, S.CLOSED),
    (S.PUBLISHED, S.SUPERSEDED),
    (S.PUBLISHED, S.QUEUED),
    (S.FAILED, S.QUEUED),
}
PAIRS = list(itertools.product(JobState, repeat=2))


@pytest.mark.parametrize(("frm", "to"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_a_transition_is_allowed_iff_it_is_in_the_table(frm, to):
    """check() passes the design's edges and raises for every other pair."""
    assert allowed(frm, to) is ((frm, to) in ALLOWED)
    if (frm, to) in ALLOWED:
        check(frm, to)
    else:
        with pytest.raises(IllegalTransitionError) as caught:
            check(frm, to)
        assert str(caught.value) == f"a job cannot go from {frm} to {to}"
        assert (caught.value.frm, caught.value.to) == (frm, to)


@pytest.mark.parametrize("state", [S.DONE, S.CLOSED, S.SUPERSEDED])
def test_terminal_states_have_no_exits(state):
    """DONE, CLOSED and SUPERSEDED lead nowhere."""
    assert TABLE[state] == frozenset()
    assert state in TERMINAL


def test_the_state_sets():
    """Every state has a row; the terminal, in-flight and active sets are as designed."""
    assert set(TABLE) == set(JobState)
    assert {S.DONE, S.CLOSED, S.SUPERSEDED} == TERMINAL
    assert {S.RUNNING, S.PUBLISHING} == IN_FLIGHT
    assert {S.QUEUED, S.WAITING, S.RUNNING, S.PUBLISHING, S.PUBLISHED} == ACTIVE


def test_the_docstring_table_is_the_table():
    """The table drawn in the module docstring says what TABLE says."""
    doc = lifecycle.__doc__ or ""
    drawn = {}
    for line in doc.splitlines():
        found = re.fullmatch(r"    ([A-Z]+) +(.+)", line)
        if found and found[1] in JobState.__members__:
            exits = [] if found[2] == "(terminal)" else found[2].split(", ")
            drawn[S[found[1]]] = frozenset(S[name] for name in exits)
    assert drawn == TABLE


def test_an_illegal_transition_is_a_speckitd_error():
    """The CLI and the service handle it like every error raised on purpose."""
    assert issubclass(IllegalTransitionError, SpeckitdError)
