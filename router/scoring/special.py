"""Special-category detection: health, religion, minors, self-harm… as disclosures, not as topics.

A topic word alone is not a disclosure ("explain how antidepressants work in general" is public).
It becomes one when a person cue ("I", "my", "his", "mi", "meine", "je"…) sits in the same sentence
within ``CUE_WINDOW_CHARS`` of it, with no group noun between them ("how can I support my team during
Ramadan" is about the team). See ``lexicon`` for the lists and why they are split.

The words come from the shared ``scan.Scan`` of the message; the few regexes here (disclosure
phrases, ages) run only on the sentences where the scan found one of their anchor words.
"""

from __future__ import annotations

import bisect
import re
from functools import cache

from router.scoring import cues, lexicon
from router.scoring.scan import Scan
from router.scoring.text import Sentences, word_list_pattern

# How far (in characters, same sentence only) a person cue may sit from a topic term.
CUE_WINDOW_CHARS = 80
# A group noun this close after a term is what the term describes ("LGBT colleagues").
_GROUP_ADJACENT_CHARS = 3
_ADULT_AGE = 18


@cache
def _phrase_regexes() -> dict[str, re.Pattern[str]]:
    return {
        category: re.compile("|".join(f"(?:{p})" for p in phrases))
        for category, phrases in lexicon.DISCLOSURE_PHRASES.items()
    }


_CHILD = word_list_pattern(cues.CHILD_NOUNS)
_NOT_AN_AGE = (
    r"(?!\d|[.:,]\d|\s*(?:minutes?|mins?|hours?|hrs?|km|kg|lbs?|%|pm|am|points?|times|euros?|dollars?"
    r"|horas|minutos|stunden|minuten|heures)\b)"
)
# After a child noun: "son is 14", "kids (7 and 10)", "hijo de 14 años", "Tochter ist 15", "fils de 9 ans".
_CHILD_AGE = re.compile(
    r"\s*(?:,\s*|\(\s*|\s(?:is|are|was|turned|just turned|aged|who is|who's|tiene|tienen|cumple|cumplio"
    r"|de|ist|sind|wird|a|ont|von)\s+(?:only |just |solo |erst |seulement )?)"
    rf"(\d{{1,2}}){_NOT_AN_AGE}(?:\s*(?:and|y|und|et|&|,)\s*(\d{{1,2}}){_NOT_AN_AGE})?"
)
# Before an age word: "14-year-old", "15-jährige", "15 ans", "12 años de edad".
_AGE_BEFORE = re.compile(r"(?<!\d)(\d{1,2})[\s\-]*$")
# "year-olds" (plural) is an age group ("a team of 12-year-olds"), not a person.
_AGE_WORD_OK = re.compile(r"(?:years?|yrs?)[\s\-]*old(?!s)|y/?o\b|jahrig|anos de edad|ans\b")
# After "I'm" / "tengo" / "ich bin" / "j'ai": the user is a minor ("I'm 16 and …").
_SELF_AGE = re.compile(
    r"\s+(\d{1,2})(?:\s*(?:years?(?: old)?|yrs?(?: old)?|yo|y/o|anos|jahre(?: alt)?|ans))?"
    r"(?=\s*(?:[,.;!?)]|$|(?:and|y|und|et|but|pero|aber|mais)\b))"
)


def _is_minor(age: str | None) -> bool:
    return age is not None and int(age) < _ADULT_AGE


def _mentions_minor(folded: str, scan: Scan) -> bool:
    for _, end, _ in scan.of("child"):
        m = _CHILD_AGE.match(folded, end)
        if m and (_is_minor(m.group(1)) or _is_minor(m.group(2))):
            return True
    for start, _, _ in scan.of("age"):
        before = _AGE_BEFORE.search(folded, max(0, start - 6), start)
        if before and _is_minor(before.group(1)) and _AGE_WORD_OK.match(folded, start):
            return True
    for _, end, _ in scan.of("self_age"):
        m = _SELF_AGE.match(folded, end)
        if m and _is_minor(m.group(1)):
            return True
    return False


class _Context:
    """The cues and group nouns of one message that can tie a term to a specific person."""

    __slots__ = ("_folded", "abstract", "cues", "groups", "starts")

    def __init__(self, folded: str, scan: Scan, role: str, sentences: Sentences) -> None:
        self._folded = folded
        found = list(scan.of("cue"))
        if role == "assistant":  # the assistant addresses the user: "your diagnosis"
            found += scan.of("assistant")
        elif role == "system":  # a system prompt describes the user: "the client is pregnant"
            found += scan.of("system")
        votes = _LanguageVotes(scan, sentences)
        neutral = [(s, e) for s, e, _ in scan.of("neutral")]
        kept = set()
        for start, end, _ in found:
            language = cues.AMBIGUOUS_CUES.get(folded[start:end])
            if language and not votes.reads_as(language, start):
                continue
            if not any(s <= start < e for s, e in neutral):
                kept.add((start, end))
        self.cues = sorted(kept)
        self.starts = [s for s, _ in self.cues]
        self.groups = [(s, e) for s, e, _ in scan.of("group")]
        self.abstract = [s for s, _, _ in scan.of("abstract")] + [s for s, _ in self.groups]

    def abstract_sentence(self, sentence: int, sentences: Sentences) -> bool:
        """Whether the sentence is about people or things in general ("someone", "what is")."""
        return any(sentences.index(pos) == sentence for pos in self.abstract)

    def group_between(self, start: int, end: int) -> bool:
        return any(start <= g_start and g_end <= end for g_start, g_end in self.groups)

    def group_right_after(self, pos: int) -> bool:
        # Only spaces between them: "LGBT colleagues", not "pregnant.\nOur team …".
        return any(
            0 <= g_start - pos <= _GROUP_ADJACENT_CHARS and not self._folded[pos:g_start].strip(" ")
            for g_start, _ in self.groups
        )


class _LanguageVotes:
    """Which language a sentence reads as, from its function words (the message's as a fallback)."""

    __slots__ = ("_by_sentence", "_message", "_sentences")

    def __init__(self, scan: Scan, sentences: Sentences) -> None:
        self._sentences = sentences
        self._message: dict[str, int] = {}
        self._by_sentence: dict[int, dict[str, int]] = {}
        for start, _, lang in scan.of("marker"):
            self._message[lang] = self._message.get(lang, 0) + 1
            votes = self._by_sentence.setdefault(sentences.index(start), {})
            votes[lang] = votes.get(lang, 0) + 1

    def reads_as(self, language: str, pos: int) -> bool:
        votes = self._by_sentence.get(self._sentences.index(pos)) or self._message
        return bool(votes) and votes.get(language, 0) == max(votes.values())


def _phrase_categories(folded: str, scan: Scan, sentences: Sentences) -> set[str]:
    found: set[str] = set()
    regexes = _phrase_regexes()
    searched: set[tuple[str, int]] = set()
    for start, _, category in scan.of("phrase"):
        index = sentences.index(start)
        if category in found or (category, index) in searched:
            continue
        searched.add((category, index))
        lo, hi = sentences.bounds(index)
        if regexes[category].search(folded, lo, hi):
            found.add(category)
    return found


def special_categories(folded: str, scan: Scan, role: str) -> set[str]:
    """Special categories disclosed in one message (``folded`` = ``text.fold(content)``)."""
    sentences = Sentences(folded)
    found = _phrase_categories(folded, scan, sentences)
    if _mentions_minor(folded, scan):
        found.add("minor")
    exceptions = [(s, e) for s, e, _ in scan.of("exception")]
    pending = [
        (s, e, category, kind)
        for kind in ("term", "self")
        for s, e, category in scan.of(kind)
        if category not in found and not any(xs <= s < xe for xs, xe in exceptions)
    ]
    if not pending:
        return found
    context = _Context(folded, scan, role, sentences)
    for start, end, category, kind in pending:
        if category in found or context.group_right_after(end):
            continue
        sentence = sentences.index(start)
        lo = bisect.bisect_left(context.starts, start - CUE_WINDOW_CHARS)
        hi = bisect.bisect_right(context.starts, end + CUE_WINDOW_CHARS)
        for cue_start, cue_end in context.cues[lo:hi]:
            if sentences.index(cue_start) != sentence:
                continue
            # A cue counts unless a group noun stands between it and the term ("I support my team …").
            gap = (cue_end, start) if cue_end <= start else (end, cue_start)
            if not context.group_between(*gap):
                found.add(category)
                break
        else:
            # "diagnosed", "sober" carry their subject — but not in a system prompt, which is mostly
            # instructions ("refuse requests for a medical diagnosis"); there it needs a cue too.
            if kind == "self" and role != "system" and not context.abstract_sentence(sentence, sentences):
                found.add(category)
    return found
