"""The tools the model may call (DESIGN §5; their names are part of the contract).

Definitions are JSON schemas sent with every request; :func:`parse_end` checks the
input of the two tools that end a run. The file tools themselves live in
:mod:`daemon.agent.workspace`, confined to the worktree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

EDITOR: Final = "str_replace_based_edit_tool"
SEARCH: Final = "search_code"
CHECKS: Final = "run_checks"
CLARIFY: Final = "request_clarification"
COMPLETE: Final = "complete_task"
ENDING: Final = frozenset({CLARIFY, COMPLETE})
MAX_RESULT_CHARS: Final = 64_000  # above the view (60,000) and search limits

_STRINGS: Final = {"type": "array", "items": {"type": "string"}}


def definitions(abilities: frozenset[str]) -> list[dict[str, Any]]:
    """The tool list for an agent that may use ``abilities`` (the ending tools always)."""
    tools: list[dict[str, Any]] = []
    if abilities & {"view", "edit"}:
        tools.append({"type": "text_editor_20250728", "name": EDITOR})
    if "search_code" in abilities:
        tools.append(
            {
                "name": SEARCH,
                "description": "Search the repository's files (read-only) for a Python "
                "regular expression, line by line. Returns path:line: text for each match.",
                "input_schema": {
                    "type": "object",
                    "properties": {
                        "pattern": {"type": "string", "description": "a Python regex"},
                        "path_glob": {
                            "type": "string",
                            "description": "only files matching this glob, e.g. backend/**/*.py",
                        },
                    },
                    "required": ["pattern"],
                    "additionalProperties": False,
                },
            }
        )
    if "run_checks" in abilities:
        tools.append(
            {
                "name": CHECKS,
                "description": "Run the gates (the agent's rules SK001-SK008 and the "
                "project's own checks, sandboxed) on the current work; returns the report.",
                "input_schema": {"type": "object", "properties": {}, "additionalProperties": False},
            }
        )
    tools.append(
        {
            "name": CLARIFY,
            "description": "Stop and ask: the task cannot be implemented as specified. Ends "
            "the run; a clarification issue is opened with your questions.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "missing": {"type": "string", "description": "what is missing or unclear"},
                    "consulted": {**_STRINGS, "description": "documents and sections read"},
                    "questions": {**_STRINGS, "minItems": 1, "description": "precise questions"},
                },
                "required": ["missing", "consulted", "questions"],
                "additionalProperties": False,
            },
        }
    )
    tools.append(
        {
            "name": COMPLETE,
            "description": "The task is implemented. Ends the run; the gates run, and their "
            "findings come back to you if they fail.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "what was done"},
                    "assumptions": {**_STRINGS, "description": "assumptions made"},
                    "spec_refs": {**_STRINGS, "description": "spec sections implemented"},
                },
                "required": ["summary", "assumptions", "spec_refs"],
                "additionalProperties": False,
            },
        }
    )
    return tools


class BadInputError(ValueError):
    """A tool input that does not match its schema."""


def _text(data: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key, None if required else "")
    if not isinstance(value, str):
        raise BadInputError(f"{key!r} must be a string")
    return value


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadInputError(f"{key!r} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class Clarify:
    """The input of ``request_clarification``."""

    missing: str
    consulted: tuple[str, ...]
    questions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Complete:
    """The input of ``complete_task``."""

    summary: str
    assumptions: tuple[str, ...]
    spec_refs: tuple[str, ...]


def parse_end(name: str, data: Mapping[str, Any]) -> Clarify | Complete:
    """The checked input of an ending tool; :class:`BadInputError` says what is wrong."""
    if name == CLARIFY:
        questions = _texts(data, "questions")
        if not questions:
            raise BadInputError("'questions' needs at least one question")
        return Clarify(_text(data, "missing"), _texts(data, "consulted"), questions)
    return Complete(_text(data, "summary"), _texts(data, "assumptions"), _texts(data, "spec_refs"))


def clip(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """``text`` cut to ``limit`` characters with a note saying so."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"
