"""Text helpers shared by the scorers: length-preserving folding, sentences, word-list regexes.

Folding keeps every character at its offset (one character in, one character out), so a span found
in folded text is the same span in the original — redaction relies on that.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from functools import cache

_ACCENTS = {
    "a": "àáâãäåā",
    "c": "çćč",
    "e": "èéêëēėę",
    "i": "ìíîïī",
    "n": "ñń",
    "o": "òóôõöøō",
    "u": "ùúûüū",
    "y": "ýÿ",
    "s": "śš",
    "z": "źżž",
    "l": "ł",
    "'": "\u2019\u2018\u02bc`\u00b4",
    '"': "\u201c\u201d\u201e\u00ab\u00bb",
    "-": "\u2010\u2011\u2012\u2013\u2014",
    " ": "\u00a0\u2007\u202f\t",
}
_FOLD_MAP = {ch: base for base, chars in _ACCENTS.items() for ch in chars}
_FOLD_TARGETS = re.compile("[" + re.escape("".join(_FOLD_MAP)) + "]")


def fold(text: str) -> str:
    """Lower-case, strip accents and unify quotes/dashes/spaces — without moving any character."""
    lowered = text.lower()
    if lowered.isascii():  # the common case: only tabs and backquotes to map
        if "\t" in lowered or "`" in lowered:
            return lowered.replace("\t", " ").replace("`", "'")
        return lowered
    if len(lowered) != len(text):  # a few characters (e.g. "İ") lower to two code points
        lowered = "".join(ch.lower()[0] for ch in text)
    # A regex visits only the characters to map; str.translate would look up every character.
    return _FOLD_TARGETS.sub(lambda m: _FOLD_MAP[m.group()], lowered)


# Starts with a character class so the engine skips ordinary characters without trying the pattern.
_SENTENCE_END = re.compile(r"[.!?;\n](?:(?<=\n)|[.!?;]*(?=\s|$))")


class Sentences:
    """Sentence boundaries of one text, for "is this cue in the same sentence as that term?"."""

    __slots__ = ("_ends", "_length")

    def __init__(self, text: str) -> None:
        # A full stop after a digit is an ordinal or a date ("in der 10. Woche", "3. Mai"), not an end.
        self._ends = [
            m.end()
            for m in _SENTENCE_END.finditer(text)
            if not (text[m.start()] == "." and m.start() > 0 and text[m.start() - 1].isdigit())
        ]
        self._length = len(text)

    def index(self, pos: int) -> int:
        """Index of the sentence holding character ``pos``."""
        return bisect.bisect_right(self._ends, pos)

    def bounds(self, index: int) -> tuple[int, int]:
        """Start and end offsets of sentence ``index``."""
        start = self._ends[index - 1] if index > 0 else 0
        end = self._ends[index] if index < len(self._ends) else self._length
        return start, end


def _trie_regex(words: Iterable[str]) -> str:
    """A regex alternation shaped as a trie, so the engine rejects a position after a character or two.

    A word ending in ``*`` matches any continuation of word characters (``depress*`` → depression,
    depressed); a space or hyphen inside an entry matches any run of spaces and hyphens (folded text
    has tabs and odd spaces turned into plain spaces).
    """
    trie: dict[str, dict] = {}
    for word in words:
        word = word.replace("-", " ")
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        # Longer continuations first (spaces, then letters), "*" after them, the word end last: the
        # engine takes the first branch that matches, so this prefers the longest entry.
        branches = []
        for ch in sorted(node, key=lambda c: (c == "", c == "*", c)):
            child = node[ch]
            if ch == "":
                branches.append(r"(?!\w)")
            elif ch == "*":
                branches.append(r"\w*" + emit(child))
            else:
                # Not "\s": a phrase does not run across a line break.
                branches.append((r"[ \-]+" if ch == " " else re.escape(ch)) + emit(child))
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"

    return emit(trie)


def terms(block: str) -> tuple[str, ...]:
    """Split a comma-separated block of word-list entries (newlines are only for layout)."""
    return tuple(" ".join(t.split()) for t in block.split(",") if t.strip())


@cache
def word_list_pattern(words: tuple[str, ...]) -> str:
    """Regex source matching any of ``words`` as whole words (see ``_trie_regex``)."""
    return r"(?<!\w)" + _trie_regex(words)


class Spans:
    """Detected spans of one message: category per character range, first detector wins overlaps.

    Spans never overlap, so kept in start order their ends are in order too: every check is a bisect.
    """

    __slots__ = ("_ends", "_starts", "items")

    def __init__(self) -> None:
        self.items: list[tuple[int, int, str]] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlap_end(self, start: int, end: int) -> int | None:
        """End of the last span overlapping [start, end), or None."""
        i = bisect.bisect_left(self._starts, end)  # spans before i start before ``end``
        if i and self._ends[i - 1] > start:
            return self._ends[i - 1]
        return None

    def overlaps(self, start: int, end: int) -> bool:
        return self.overlap_end(start, end) is not None

    def add(self, start: int, end: int, category: str) -> bool:
        """Record a span unless an earlier (higher-priority) detector already claimed part of it."""
        if start >= end or self.overlaps(start, end):
            return False
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
        self.items.insert(i, (start, end, category))
        return True

    def categories(self) -> set[str]:
        return {category for _, _, category in self.items}
