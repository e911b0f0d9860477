"""Text helpers for people's names and customers' words (pure)."""

from __future__ import annotations

import unicodedata

PREVIEW_CHARS = 80


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Ação' and 'acao' fold alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def find_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Ranges [start, end) of ``text`` where the folded ``query`` occurs.

    Folding can change lengths ('ß' → 'ss', 'é' → 'e' + accent), so each folded
    character remembers which original character it came from."""
    needle = fold(query).strip()
    if not needle:
        return []
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for f in fold(char):
            folded.append(f)
            origin.append(index)
    haystack = "".join(folded)
    spans: list[tuple[int, int]] = []
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        spans.append((origin[start], origin[end - 1] + 1))
        start = haystack.find(needle, end)
    return spans


def initials(name: str) -> str | None:
    """'María José Pérez' → 'MP'; 'ana' → 'A'; no letters → None."""
    words = [w for w in name.split() if any(c.isalpha() for c in w)]
    if not words:
        return None
    firsts = [next(c for c in w if c.isalpha()).upper() for w in words]
    return firsts[0] if len(firsts) == 1 else firsts[0] + firsts[-1]


def preview(text: str) -> str:
    """One line, at most PREVIEW_CHARS characters, for the conversation list."""
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"
