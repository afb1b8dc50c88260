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

from router.scoring import contacts, credentials, cues, lexicon, numbers
from router.scoring.text import word_list_pattern

Tag = tuple[str, str]
Hit = tuple[int, int, str]  # start, end, tag value

# Tags that a longer entry must not inherit from the shorter entries it starts with.
_NOT_INHERITED = frozenset({"neutral", "exception"})
_SPACES = re.compile(r"[ \-]+")
_MEMO_SIZE = 20_000
_ONE_WORD_GAP = re.compile(r"\s+(?:[\w']+\s+)?")


class Plan:
    """What a matched word files into a ``Scan``: (bucket, value) pairs, and two flags."""

    __slots__ = ("buckets", "is_group", "is_possessive")

    def __init__(self, tags: frozenset[Tag]) -> None:
        self.buckets = tuple(
            (f"trigger:{value}" if kind == "trigger" else kind, value) for kind, value in sorted(tags)
        )
        self.is_group = ("group", "") in tags
        self.is_possessive = ("possessive", "") in tags


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
        self.plans = {key: Plan(tags) for key, tags in self.exact.items()}
        self._memo: dict[str, Plan] = {}

    def plan(self, matched: str) -> Plan:
        """The plan of a matched text that is not an exact entry (a stem, or a spaced phrase)."""
        plan = self._memo.get(matched)
        if plan is None:
            if len(self._memo) >= _MEMO_SIZE:  # words of real traffic repeat; bound the memory anyway
                self._memo.clear()
            plan = self._memo[matched] = Plan(self.tags(matched))
        return plan

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
    for lang, words in cues.PERSON_CUES.items():
        _add(entries, words, ("cue", lang))
    for lang, words in cues.ASSISTANT_CUES.items():
        _add(entries, words, ("assistant", lang))
    for lang, words in cues.LANGUAGE_MARKERS.items():
        _add(entries, words, ("marker", lang))
    _add(entries, cues.SYSTEM_CUES, ("system", ""))
    _add(entries, cues.GROUP_NOUNS, ("group", ""))
    _add(entries, cues.ABSTRACT_QUESTIONS, ("abstract", ""))
    _add(entries, cues.POSSESSIVES, ("possessive", ""))
    _add(entries, cues.NEUTRAL_PHRASES, ("neutral", ""))
    _add(entries, lexicon.TERM_EXCEPTIONS, ("exception", ""))
    _add(entries, cues.CHILD_NOUNS, ("child", ""))
    _add(entries, cues.AGE_ANCHORS, ("age", ""))
    _add(entries, cues.SELF_AGE_INTROS, ("self_age", ""))
    for kind, words in cues.COMPLEXITY_WORDS.items():
        _add(entries, words, (f"cx:{kind}", ""))
    for module in (credentials, numbers, contacts):
        for detector, words in module.TRIGGERS.items():
            _add(entries, words, ("trigger", detector))
    # The regex takes the longest entry at a position, so "my name is" hides "my": give a phrase the
    # tags of the shorter entries it starts with (except neutral phrases, whose point is to hide).
    for entry, tags in entries.items():
        if " " not in entry or tags & {("neutral", ""), ("exception", "")}:
            continue
        parts = entry.split(" ")
        for n in range(1, len(parts)):
            prefix = entries.get(" ".join(parts[:n]))
            if prefix:
                tags |= {t for t in prefix if t[0] not in _NOT_INHERITED}
    return Vocabulary({entry: frozenset(tags) for entry, tags in entries.items()})


class Scan:
    """Hits of one folded text, by tag kind: ``scan.of("cue")`` → [(start, end, value), …] in order.

    Trigger hits are filed per detector: ``scan.triggered("password")``. A possessive in front of a
    group noun ("my team", "mis empleados") is part of the group: it is dropped from the cues and the
    group hit starts at the possessive.
    """

    __slots__ = ("_hits",)

    def __init__(self, folded: str) -> None:
        vocab = vocabulary()
        hits: dict[str, list[Hit]] = {}
        plans = vocab.plans
        last_possessive: tuple[int, int, int] | None = None  # start, end, index in the cue list
        for m in vocab.regex.finditer(folded):
            start, end = m.span()
            word = m.group()
            plan = plans.get(word) or vocab.plan(word)
            group_start = start
            if plan.is_group and last_possessive is not None:
                p_start, p_end, p_index = last_possessive
                if _ONE_WORD_GAP.fullmatch(folded, p_end, start):
                    cues = hits.get("cue", [])
                    if p_index < len(cues) and cues[p_index][0] == p_start:
                        del cues[p_index]
                    group_start = p_start
            for bucket, value in plan.buckets:
                bucket_hits = hits.get(bucket)
                if bucket_hits is None:
                    hits[bucket] = bucket_hits = []
                bucket_hits.append((group_start if bucket == "group" else start, end, value))
            if plan.is_possessive:
                last_possessive = (start, end, len(hits.get("cue", ())) - 1)
        self._hits = hits

    def of(self, kind: str) -> list[Hit]:
        return self._hits.get(kind, [])

    def triggered(self, detector: str) -> list[Hit]:
        """Where the cue words of ``detector`` were found."""
        return self._hits.get(f"trigger:{detector}", [])


_last_scan: tuple[str, Scan] | None = None


def scan_text(folded: str) -> Scan:
    """``Scan(folded)``, reusing the previous result when asked twice in a row for the same text.

    The router scores privacy then complexity of the same request; for a one-message request both
    read the same text, and this saves the second pass. Only the last text is kept.
    """
    global _last_scan
    last = _last_scan
    if last is not None and last[0] == folded:
        return last[1]
    scan = Scan(folded)
    _last_scan = (folded, scan)
    return scan
