"""References from tasks to spec sections: reading them, expanding ranges, resolving them.

Forms (DESIGN §2): ``speckit.plan §2.1``, ``speckit.specify FR-1``, ``spec.md §US1``,
``§User Stories``, ``speckit.plan: Section 1``, ``Specify: Section 12.1``, ranges
``US1-US3`` / ``FR-001–FR-005`` / ``§2.1-2.3``, and a document alone
(``speckit.constitution``). Bare labels (``FR-1``, ``REQ-01``) count only where a
field or column is about references.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from daemon.spec.ids import label_key, split_label
from daemon.spec.model import Section, SectionIndex, SectionRef

DOC_KINDS: Final[dict[str, str]] = {
    "speckit.specify": "spec",
    "speckit.spec": "spec",
    "spec.md": "spec",
    "speckit.plan": "plan",
    "plan.md": "plan",
    "speckit.constitution": "constitution",
    "constitution.md": "constitution",
    "speckit.tasks": "tasks",
    "tasks.md": "tasks",
    "data-model.md": "data-model",
    "research.md": "research",
    "quickstart.md": "quickstart",
}
DOC_WORDS: Final[dict[str, str]] = {
    "specify": "spec",
    "spec": "spec",
    "specification": "spec",
    "plan": "plan",
    "constitution": "constitution",
}

_DOC: Final = (
    r"(?P<doc>speckit\.(?:specify|spec|plan|constitution|tasks)"
    r"|(?:spec|plan|constitution|tasks|data-model|research|quickstart)\.md"
    r"|contracts/[\w./-]*\w)"
)
_NUM: Final = r"\d+(?:\.\d+)*"
_LBL: Final = r"[A-Z][A-Za-z]{0,7}-?\d+[a-z]?(?:\.\d+)?"
_RANGE_TAIL: Final = rf"(?:\s*[-–—]\s*(?:{_LBL}|{_NUM})|\s+(?:to|through)\s+(?:{_LBL}|{_NUM}))?"
_SEC: Final = (
    rf"(?P<sec>(?:{_LBL}|{_NUM}){_RANGE_TAIL}(?![\w-])"
    r"|[A-Za-z][\w&'/ -]{0,80}?(?=\s*(?:[,;)\]|]|\s[-–—/]\s|\.(?:\s|$)|$|\s\()))"
)
_WITH_DOC: Final = re.compile(
    rf"{_DOC}(?:\s*:?\s*§\s*{_SEC}"
    rf"|\s*:?\s*(?:Section|Sec\.?)\s+(?P<num>{_NUM})"
    rf"|\s+(?P<label>[A-Z]{{1,8}}-?\d+[a-z]?{_RANGE_TAIL})(?![\w.-])"
    rf"|\s*:\s*(?P<title>[A-Z][\w&' -]{{2,60}}?)(?=\s*(?:[,;/(]|$)))?",
    re.IGNORECASE,
)
_WORD_DOC: Final = re.compile(
    r"\b(?P<word>specify|spec|specification|plan|constitution)\b\s*:?\s*"
    rf"(?:§\s*{_SEC.replace('?P<sec>', '?P<wsec>')}|(?:Section|Sec\.?)\s+(?P<wnum>{_NUM}))",
    re.IGNORECASE,
)
_BARE_SECTION: Final = re.compile(rf"§\s*{_SEC}")
_SECTION_WORD: Final = re.compile(rf"\bSection\s+(?P<num>{_NUM})\b")
_BARE_LABEL: Final = re.compile(rf"(?<![\w./-])(?P<label>{_LBL}{_RANGE_TAIL})(?![\w.-])")
_RANGE: Final = re.compile(
    rf"(?P<a>{_LBL}|{_NUM})\s*(?:[-–—]|\s(?:to|through)\s)\s*(?P<b>{_LBL}|{_NUM})$"
)
MAX_RANGE: Final = 50
# Words without which a line holds no reference (checked before any regex runs).
_HINTS: Final = ("speckit.", ".md", "contracts/", "spec", "plan", "constitution", "section")


def doc_kind(name: str) -> str:
    """The document kind a name in a reference stands for (``contracts/...`` stays a path)."""
    lowered = name.lower()
    if lowered.startswith("contracts/"):
        return name
    return DOC_KINDS.get(lowered) or DOC_WORDS.get(lowered) or lowered


def expand(section: str) -> list[str]:
    """Expand a range (``US1-US3``, ``FR-001–FR-005``, ``2.1-2.3``) into its members.

    A range that cannot be expanded, or would exceed ``MAX_RANGE`` members, stays
    as its two ends (the size is checked before any member is made).
    """
    match = _RANGE.match(section.strip())
    if not match:
        return [section.strip()]
    left, right = match.group("a"), match.group("b")
    a = split_label(left)
    b = (a[0], int(right), "") if a and right.isdigit() and len(right) <= 9 else split_label(right)
    stem, low, high = "", 0, -1
    if a and b and a[0] == b[0]:
        stem, low, high = a[0], a[1], b[1]
    elif re.fullmatch(_NUM, left) and re.fullmatch(_NUM, right):
        head_a, _, last_a = left.rpartition(".")
        head_b, _, last_b = right.rpartition(".")
        if head_a == head_b and len(last_a) <= 9 and len(last_b) <= 9:
            stem = f"{head_a}." if head_a else ""
            low, high = int(last_a), int(last_b)
    if not 0 <= high - low < MAX_RANGE:
        return [left, right]
    return [f"{stem}{n}" for n in range(low, high + 1)]


def _refs(raw: str, doc: str | None, section: str | None, line: int) -> Iterator[SectionRef]:
    if section is None:
        yield SectionRef(raw, doc, None, line)
        return
    for member in expand(section):
        yield SectionRef(raw, doc, member, line)


@dataclass(slots=True)
class _Reader:
    """References found in one text, and the spans already claimed by a longer form."""

    text: str
    line: int
    found: list[SectionRef] = field(default_factory=list)
    taken: list[tuple[int, int]] = field(default_factory=list)

    def free(self, span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in self.taken)

    def claim(
        self,
        pattern: re.Pattern[str],
        read: Callable[[re.Match[str]], tuple[str | None, str | None]],
    ) -> None:
        """Add the references ``pattern`` finds in unclaimed text (``read`` gives doc, section)."""
        for match in pattern.finditer(self.text):
            if self.free(match.span()):
                doc, section = read(match)
                self.found.extend(_refs(match.group(0).strip(), doc, section, self.line))
                self.taken.append(match.span())


def _with_doc(match: re.Match[str]) -> tuple[str | None, str | None]:
    groups = ("sec", "num", "label", "title")
    section = next((match.group(g) for g in groups if match.group(g)), None)
    return doc_kind(match.group("doc")), section.strip() if section else None


def extract(
    text: str, line: int, *, bare: bool = False, doc: str | None = None
) -> list[SectionRef]:
    """Read the references in ``text`` (a line of a task, or a references field's value).

    With ``bare`` (a references field or column) labels without a document count,
    resolved against ``doc`` when given (a ``Plan:`` field) or every document.
    Longer forms are read first; shorter ones only in text they did not claim.
    """
    lowered = text.lower()
    if not bare and "§" not in text and not any(word in lowered for word in _HINTS):
        return []
    reader = _Reader(text, line)
    if "." in text or "/" in text:
        reader.claim(_WITH_DOC, _with_doc)
    reader.claim(
        _WORD_DOC,
        lambda m: (DOC_WORDS[m.group("word").lower()], m.group("wsec") or m.group("wnum")),
    )
    if "§" in text:
        reader.claim(_BARE_SECTION, lambda m: (doc, m.group("sec").strip()))
    if bare:
        reader.claim(_SECTION_WORD, lambda m: (doc, m.group("num")))
        reader.claim(_BARE_LABEL, lambda m: (doc, m.group("label")))
    return reader.found


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a reference points: the document path and sections, or why it does not resolve."""

    ref: SectionRef
    path: str | None
    sections: tuple[Section, ...]
    problem: str | None = None

    @property
    def resolved(self) -> bool:
        """Whether the reference found its document (and section, when it names one)."""
        return self.problem is None


def title_key(title: str) -> str:
    """A heading title as references compare it: lowercase words, no numbering or symbols."""
    words = re.sub(r"[^\w]+", " ", title.lower()).split()
    while words and re.fullmatch(r"\d+", words[0]):
        words.pop(0)
    return "title:" + " ".join(words)


def section_keys(section: str) -> list[str]:
    """The keys a section text of a reference may match, most specific first."""
    text = section.strip().rstrip(".")
    if re.fullmatch(_NUM, text):
        return [text]
    keys = []
    if re.fullmatch(_LBL, text):
        keys.append(label_key(text))
    keys.append(title_key(text))
    return keys


def find(index: SectionIndex, section: str) -> Section | None:
    """The section of ``index`` that ``section`` names, or None."""
    keys = section_keys(section)
    for key in keys:
        for candidate in index.sections:
            if key in candidate.keys:
                return candidate
    wanted = keys[-1]
    if wanted.startswith("title:") and len(wanted) > len("title:") + 2:
        for candidate in index.sections:
            if any(k.startswith(wanted) for k in candidate.keys if k.startswith("title:")):
                return candidate
    return None


def resolve(ref: SectionRef, docs: Mapping[str, SectionIndex]) -> Resolution:
    """Resolve ``ref`` against the documents a task can see, keyed by kind or contract path."""
    if ref.doc is not None:
        candidates = [docs[ref.doc]] if ref.doc in docs else []
        if not candidates:
            return Resolution(ref, None, (), f"no {ref.doc} document found for {ref.raw!r}")
    else:
        order = ("spec", "plan", "data-model", "constitution", "research", "quickstart")
        candidates = [docs[kind] for kind in order if kind in docs]
        candidates += [index for kind, index in docs.items() if kind not in order]
    if ref.section is None:
        return Resolution(ref, candidates[0].path, ())
    for index in candidates:
        section = find(index, ref.section)
        if section is not None:
            return Resolution(ref, index.path, (section,))
    where = candidates[0].path if ref.doc is not None else "the spec documents"
    problem = f"{ref.raw!r}: no section {ref.section!r} in {where}"
    return Resolution(ref, candidates[0].path if candidates else None, (), problem)
