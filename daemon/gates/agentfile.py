"""An agent's rules, from its Claude Code subagent file (YAML front matter + Markdown body).

Rules live under a ``speckitd:`` key of the front matter (Claude Code ignores keys it
does not know); without one, the defaults of the shipped backend-engineer apply::

    speckitd:
      write_scope: ["backend/app/**"]
      forbidden: ["frontend/**", "**/*.tsx"]
      protected: [".github/**", "pyproject.toml"]
      owner_columns: [user_id, owner_id]
      header_required: true
      rules: [SK001, SK002, SK004]      # the rules to run (default: all)
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field, replace

import yaml

from daemon.errors import ConfigError
from daemon.gates.model import RULES, RuleConfig
from daemon.spec.yamldoc import load_plain

_LISTS = ("write_scope", "forbidden", "protected", "owner_columns", "header_globs")


@dataclass(frozen=True, slots=True)
class AgentFile:
    """A subagent definition: its front matter fields, prompt body, and gate rules."""

    name: str
    front: dict[str, object] = field(default_factory=dict)
    body: str = ""
    rules: RuleConfig = field(default_factory=RuleConfig)


def _list(value: object, key: str, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ConfigError(f"{path}: speckitd.{key} must be a list of strings")


def rules_from(settings: object, path: str) -> RuleConfig:
    """A RuleConfig from the ``speckitd:`` mapping of an agent file."""
    if settings is None or settings == "":
        return RuleConfig()
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: speckitd: must be a mapping")
    unknown = set(settings) - {*_LISTS, "header_required", "rules"}
    if unknown:
        raise ConfigError(f"{path}: unknown speckitd keys: {', '.join(sorted(unknown))}")
    config = RuleConfig()
    changes: dict[str, object] = {
        key: _list(settings[key], key, path) for key in _LISTS if key in settings
    }
    if "header_required" in settings:
        flag = str(settings["header_required"]).lower()
        if flag not in {"true", "false", "yes", "no"}:
            raise ConfigError(f"{path}: speckitd.header_required must be true or false")
        changes["header_required"] = flag in {"true", "yes"}
    if "rules" in settings:
        wanted = _list(settings["rules"], "rules", path)
        unknown_rules = [rule for rule in wanted if rule not in RULES]
        if unknown_rules:
            raise ConfigError(f"{path}: unknown rules: {', '.join(unknown_rules)}")
        changes["rules"] = frozenset(wanted)
    return replace(config, **changes)  # type: ignore[arg-type]


_KEY = re.compile(r"([A-Za-z_][\w-]*)\s*:(?:\s+(.*))?$")


def _front(lines: list[str], path: str) -> object:
    """Front matter as Claude Code reads it.

    YAML, or else ``key: rest of line`` per top-level key (descriptions hold unquoted
    ``: ``), with nested blocks parsed as YAML.
    """
    try:
        return load_plain("\n".join(lines))
    except (yaml.YAMLError, RecursionError):
        pass
    front: dict[str, object] = {}
    block: list[str] = []
    key = ""

    def close() -> None:
        if key and block:
            try:
                front[key] = load_plain(textwrap.dedent("\n".join(block)))
            except (yaml.YAMLError, RecursionError) as error:
                raise ConfigError(
                    f"{path}: speckitd front matter block {key!r}: {error}"
                ) from error

    for number, line in enumerate(lines, start=2):
        if line[:1].isspace() and key:
            block.append(line)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: not a 'key: value' line in the front matter")
        close()
        key, value, block = match.group(1), (match.group(2) or "").strip(), []
        if value:
            front[key] = value.strip("\"'") if value[:1] in "\"'" else value
    close()
    return front


def read_agent(text: str, path: str) -> AgentFile:
    """Parse a subagent file; a missing or broken front matter is a ConfigError naming the file."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path}:1: an agent file starts with YAML front matter (---)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ConfigError(f"{path}:1: the front matter is never closed (---)") from None
    front = _front(lines[1:end], path)
    if not isinstance(front, dict) or not isinstance(front.get("name"), str):
        raise ConfigError(f"{path}: the front matter needs a name")
    body = "\n".join(lines[end + 1 :]).strip()
    return AgentFile(front["name"], front, body, rules_from(front.get("speckitd"), path))
