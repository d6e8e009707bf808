"""A run's transcript: redacted JSON lines, flushed after every turn and every tool result.

It is both the record of the run and what a restarted run resumes from: the
conversation is rebuilt from it, so no tool call that has a saved result runs twice.
Every value is scrubbed of secret-shaped text and of the secrets the runner knows
(the API key) before it is written. A torn last line, as a kill mid-write leaves, is
ignored on reading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from daemon.logs import REDACTED, scrub


class Transcript:
    """An append-only JSONL file of run events."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.path = path
        self._secrets = tuple(sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True))
        self._mended = False

    def redact(self, value: object) -> object:
        """``value`` with known secrets and secret-shaped strings replaced."""
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return scrub(value)
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact(item) for item in value]
        return value

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write one event durably and return it as written (redacted)."""
        clean = cast(dict[str, Any], self.redact(event))  # a dict stays a dict
        line = json.dumps(clean, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            if not self._mended:
                # A kill mid-write leaves a line without its newline: end it, or the
                # next event would be glued to it and lost with it.
                self._mended = True
                if out.tell() > 0 and not self._ends_with_newline():
                    out.write("\n")
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        return clean

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as raw:
            raw.seek(-1, os.SEEK_END)
            return raw.read(1) == b"\n"

    def events(self) -> list[dict[str, Any]]:
        """Every complete event written so far, in order."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        found: list[dict[str, Any]] = []
        for line in raw.split("\n"):  # JSON text may hold U+2028 and friends raw
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write
            if isinstance(event, dict):
                found.append(event)
        return found
