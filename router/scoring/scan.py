"""One pass over a message: every listed word or phrase, with what it means to each detector.

All word lists — special-category terms, person cues, group nouns, language markers and the cue words
that trigger identifier detectors ("password", "my name is", "account number") — go into a single
trie-shaped regex. One ``finditer`` over the folded text then finds them all; each hit carries
tags ``(kind, value)`` looked up from the matched text. Detectors run their own, anchored regexes
only where a trigger was found, which keeps a 500-word request well under a millisecond.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache

from router.scoring import contacts, credentials, lexicon, numbers
from router.scoring.text import word_list_pattern

Tag = tuple[str, str]
Hit = tuple[int, int, str]  # start, end, tag value

# Tags that a longer entry must not inherit from the shorter entries it starts with.
_NOT_INHERITED = frozenset({"neutral", "exception"})
_SPACES = re.compile(r"[ \-]+")
_ONE_WORD_GAP = re.compile(r"\s+(?:[\w']+\s+)?")


class Vocabulary:
    """Entries (folded words or phrases, ``*`` = any continuation) → tags, and their regex."""

    def __init__(self, entries: Mapping[str, frozenset[Tag]]) -> None:
        self.regex = re.compile(word_list_pattern(tuple(sorted(entries))))
        self.exact: dict[str, frozenset[Tag]] = {}
        self.stems: dict[str, frozenset[Tag]] = {}
        self.inner: list[tuple[re.Pattern[str], frozenset[Tag]]] = []  # stars inside a phrase
        for entry, tags in entries.items():
            key = entry.replace("-", " ")
            if "*" not in key:
                self.exact[key] = tags
            elif key.index("*") == len(key) - 1:
                self.stems[key[:-1]] = self.stems.get(key[:-1], frozenset()) | tags
            else:
                self.inner.append((re.compile(word_list_pattern((key,))[len("(?<!\\w)") :]), tags))
        self.stem_lengths = sorted({len(s) for s in self.stems}, reverse=True)
        # An exact entry that also continues a stem ("depression" and "depress*") gets both tag sets,
        # so the common case — an exact hit — is one dictionary lookup.
        for key, tags in list(self.exact.items()):
            self.exact[key] = tags | self._stem_tags(key)

    def _stem_tags(self, key: str) -> frozenset[Tag]:
        found: set[Tag] = set()
        for n in self.stem_lengths:
            if n <= len(key):
                found |= self.stems.get(key[:n], frozenset())
        return frozenset(found)

    def tags(self, matched: str) -> frozenset[Tag]:
        """Tags of a matched text (every entry it is an instance of)."""
        key = _SPACES.sub(" ", matched) if (" " in matched or "-" in matched) else matched
        tags = self.exact.get(key)
        if tags is not None:
            return tags
        found = self._stem_tags(key)
        if not found:
            for regex, inner_tags in self.inner:
                if regex.fullmatch(key):
                    found |= inner_tags
        return found


def _add(entries: dict[str, set[Tag]], words: Iterable[str], tag: Tag) -> None:
    for word in words:
        entries.setdefault(word.replace("-", " "), set()).add(tag)


@cache
def vocabulary() -> Vocabulary:
    """The shared vocabulary, built once per process."""
    entries: dict[str, set[Tag]] = {}
    for category, words in lexicon.TOPIC_TERMS.items():
        _add(entries, words, ("term", category))
    for category, words in lexicon.SELF_CUE_TERMS.items():
        _add(entries, words, ("self", category))
    for category, words in lexicon.PHRASE_ANCHORS.items():
        _add(entries, words, ("phrase", category))
    for lang, words in lexicon.PERSON_CUES.items():
        _add(entries, words, ("cue", lang))
    for lang, words in lexicon.ASSISTANT_CUES.items():
        _add(entries, words, ("assistant", lang))
    for lang, words in lexicon.LANGUAGE_MARKERS.items():
        _add(entries, words, ("marker", lang))
    _add(entries, lexicon.SYSTEM_CUES, ("system", ""))
    _add(entries, lexicon.GROUP_NOUNS, ("group", ""))
    _add(entries, lexicon.ABSTRACT_QUESTIONS, ("abstract", ""))
    _add(entries, lexicon.POSSESSIVES, ("possessive", ""))
    _add(entries, lexicon.NEUTRAL_PHRASES, ("neutral", ""))
    _add(entries, lexicon.TERM_EXCEPTIONS, ("exception", ""))
    _add(entries, lexicon.CHILD_NOUNS, ("child", ""))
    _add(entries, lexicon.AGE_ANCHORS, ("age", ""))
    _add(entries, lexicon.SELF_AGE_INTROS, ("self_age", ""))
    for module in (credentials, numbers, contacts):
        for detector, words in module.TRIGGERS.items():
            _add(entries, words, ("trigger", detector))
    # The regex takes the longest entry at a position, so "my name is" hides "my": give a phrase the
    # tags of the shorter entries it starts with (except neutral phrases, whose point is to hide).
    for entry, tags in entries.items():
        if " " not in entry or tags & {("neutral", ""), ("exception", "")}:
            continue
        words = entry.split(" ")
        for n in range(1, len(words)):
            prefix = entries.get(" ".join(words[:n]))
            if prefix:
                tags |= {t for t in prefix if t[0] not in _NOT_INHERITED}
    return Vocabulary({entry: frozenset(tags) for entry, tags in entries.items()})


class Scan:
    """Hits of one folded text, by tag kind: ``scan.of("cue")`` → [(start, end, value), …] in order.

    A possessive in front of a group noun ("my team", "mis empleados") is part of the group: it is
    dropped from the cues and the group hit starts at the possessive.
    """

    __slots__ = ("_hits",)

    def __init__(self, folded: str) -> None:
        vocab = vocabulary()
        hits: dict[str, list[Hit]] = {}
        last_possessive: tuple[int, int, int] | None = None  # start, end, index in the cue list
        for m in vocab.regex.finditer(folded):
            start, end = m.span()
            tags = vocab.tags(m.group())
            for kind, value in tags:
                if kind == "group" and last_possessive is not None:
                    p_start, p_end, p_index = last_possessive
                    if _ONE_WORD_GAP.fullmatch(folded, p_end, start):
                        cues = hits.get("cue", [])
                        if p_index < len(cues) and cues[p_index][0] == p_start:
                            del cues[p_index]
                        hits.setdefault(kind, []).append((p_start, end, value))
                        continue
                key = f"trigger:{value}" if kind == "trigger" else kind
                hits.setdefault(key, []).append((start, end, value))
            if ("possessive", "") in tags:
                last_possessive = (start, end, len(hits.get("cue", ())) - 1)
        self._hits = hits

    def of(self, kind: str) -> list[Hit]:
        return self._hits.get(kind, [])

    def triggered(self, detector: str) -> list[Hit]:
        """Where the cue words of ``detector`` were found."""
        return self._hits.get(f"trigger:{detector}", [])
