"""A naive document model in Python: LSP positions in utf-8 / utf-16 / utf-32, and edits.

Lines end at "\\n", "\\r\\n" or "\\r" (LSP 3.17). A position's `character` counts code units of
the negotiated encoding within the line's content (terminator excluded). The model is
deliberately simple (split, slice, join) so it can serve as the oracle for the server's ropes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def units(s: str, encoding: str) -> int:
    """Length of `s` in code units of `encoding` ("utf-8" | "utf-16" | "utf-32")."""
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    if encoding == "utf-16":
        return len(s.encode("utf-16-le")) // 2
    return len(s)


def line_starts(text: str) -> list[int]:
    """Code-point offset of each line start."""
    return [0] + [m.end() for m in LINE_BREAK.finditer(text)]


def line_content(text: str, line: int) -> tuple[int, str]:
    """(start offset, content without terminator) of `line`."""
    starts = line_starts(text)
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    content = text[start:end]
    m = LINE_BREAK.search(content)
    return start, content[: m.start()] if m else content


def position(text: str, offset: int, encoding: str) -> tuple[int, int]:
    """(line, character) of a code-point offset that is not inside a line terminator."""
    starts = line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= offset)
    return line, units(text[starts[line]:offset], encoding)


def offset(text: str, line: int, character: int, encoding: str) -> int:
    """Code-point offset of an LSP position (exact; raises if it splits a character)."""
    start, content = line_content(text, line)
    acc = 0
    for i, ch in enumerate(content):
        if acc == character:
            return start + i
        acc += units(ch, encoding)
        if acc > character:
            raise ValueError(f"position {line}:{character} splits a character in {encoding}")
    if acc == character:
        return start + len(content)
    raise ValueError(f"position {line}:{character} is past the end of the line")


@dataclass
class Edit:
    """One incremental change: LSP range in the given encoding, plus the new text."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str

    def to_lsp(self) -> dict:
        return {
            "range": {
                "start": {"line": self.start[0], "character": self.start[1]},
                "end": {"line": self.end[0], "character": self.end[1]},
            },
            "text": self.text,
        }


def apply(text: str, edit: Edit, encoding: str) -> str:
    a = offset(text, *edit.start, encoding)
    b = offset(text, *edit.end, encoding)
    return text[:a] + edit.text + text[b:]


# Pieces chosen to stress every encoding: ASCII, 2-byte, 3-byte CJK, astral emoji (surrogate
# pairs in UTF-16), combining marks, ZWJ sequences, tabs, LF and CRLF.
PIECES = [
    "a", "b", "xyz", " ", "\t", "é", "e\u0301", "ñ", "中", "文字", "😀", "🦀", "👩\u200d👩\u200d👧",
    "ǅ", "\u0915\u094d\u0937", "\n", "\r\n", "fn ", "let x = 1;", "",
]


def valid_offsets(text: str) -> list[int]:
    """Code-point offsets that are not inside a CRLF (every other offset is a valid position)."""
    return [i for i in range(len(text) + 1) if not (0 < i < len(text) and text[i - 1] == "\r" and text[i] == "\n")]


def random_edit(rng: random.Random, text: str, encoding: str) -> Edit:
    """A random replace / insert / delete with a valid range in `encoding`."""
    offs = valid_offsets(text)
    a, b = sorted((rng.choice(offs), rng.choice(offs)))
    if rng.random() < 0.4:
        b = a  # pure insertion
    if b - a > 40:
        b = a + rng.randint(0, 40)
        while b not in offs:
            b -= 1
    new = "".join(rng.choice(PIECES) for _ in range(rng.choice([0, 1, 1, 2, 3])))
    return Edit(position(text, a, encoding), position(text, b, encoding), new)


def random_text(rng: random.Random, pieces: int = 60) -> str:
    return "".join(rng.choice(PIECES) for _ in range(pieces))
