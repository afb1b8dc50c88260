"""Numbers that identify a person or an account: cards, IBANs, bank accounts, government ids, phones.

Checksums come from python-stdnum (Luhn, IBAN mod 97, DNI/NIE letters, NIR key, codice fiscale,
CURP) and phonenumbers; a bare run of digits with no checksum needs a cue word ("SSN", "passport",
"account number", "call me") before it counts. Separators (spaces, dots, dashes, slashes) are allowed
inside numbers because people write "4111.1111.1111.1111" and "+1 (415) 555-0134".

Every regex here starts with a digit or an upper-case letter, so the engine skips ordinary words
without trying the pattern; the cue-led patterns run only where ``scan.Scan`` found their cue.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import phonenumbers
from stdnum import iban, luhn
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.mx import curp

from router.scoring.text import Spans

if TYPE_CHECKING:
    from router.scoring.scan import Scan

TRIGGERS: dict[str, tuple[str, ...]] = {
    "ssn": ("ssn", "social security", "social security number", "social security no", "soc sec"),
    "passport": (
        "passport", "passport number", "passport no", "pasaporte", "reisepass", "reisepassnummer",
        "passnummer", "passeport",
    ),
    "national_id": (
        "national id", "national identity", "national id number", "id card", "identity card",
        "id number", "driver's license", "drivers license", "driver's licence", "drivers licence",
        "driving license", "driving licence", "licencia de conducir", "carne de conducir",
        "permiso de conducir", "permis de conduire", "fuhrerschein", "fuhrerscheinnummer", "dni", "nif",
        "nie number", "numero de nie", "cedula", "curp", "personalausweis", "personalausweisnummer",
        "ausweis", "ausweisnummer", "steuer id", "steuerid", "steueridentifikationsnummer",
        "steuernummer", "sozialversicherungsnummer", "rentenversicherungsnummer", "carte d'identite",
        "carte vitale", "numero fiscal", "numero de securite sociale", "securite sociale",
        "seguridad social", "numero de seguro social", "tax id", "taxpayer id",
        "taxpayer identification number", "itin", "employer identification number", "nhs number",
        "national insurance", "national insurance number", "social insurance number", "bsn", "aadhaar",
        "cpf", "codice fiscale", "nir",
    ),
    "bank": (
        "account number", "account no", "account num", "account #", "acct", "acct no", "a/c",
        "bank account", "checking account", "savings account", "current account", "routing",
        "routing number", "routing no", "aba", "sort code", "bsb", "numero de cuenta", "cuenta bancaria",
        "cuenta corriente", "kontonummer", "bankkonto", "bankleitzahl", "blz", "numero de compte",
        "compte bancaire", "compte courant", "rib",
    ),
    "iban": ("iban", "iban number", "iban code"),
    "bank_weak": ("account", "cuenta", "konto", "compte"),
    "card_ending": ("card", "tarjeta", "karte", "carte", "visa", "mastercard", "amex"),
    "phone_cue": (
        "call", "phone", "tel", "telephone", "mobile", "cell", "cellphone", "text me", "whatsapp",
        "signal", "sms", "reach me", "ring me", "llamame", "llamar", "telefono", "movil", "celular",
        "handy", "telefon", "ruf mich", "anrufen", "rufnummer", "handynummer", "appelle", "appelez",
        "rappelle", "portable", "mon numero", "mi numero", "meine nummer", "my number",
    ),
}  # fmt: skip

# After a government-id cue: a few words, then a value with digits in it (folded text).
_ID_TAIL = re.compile(r"[^.\n]{0,25}?((?=[a-z]{0,3}\d)[a-z0-9](?:[ \-./]?[a-z0-9]){4,24})")
_BANK_TAIL = re.compile(r"[^.\n\d]{0,30}(?<![a-z])(\d(?:[ \-]?\d){3,})")
# After "IBAN": an IBAN-shaped value whose checksum failed is still an account number.
_IBAN_CUE_TAIL = re.compile(r"[^.\n]{0,20}?\b([a-z]{2}\d{2}(?:[ \-.]?[a-z0-9]){8,32})")
_BANK_WEAK_TAIL = re.compile(r"\s?[:#]?\s?(\d(?:[ \-]?\d){5,})")
_CARD_ENDING_TAIL = re.compile(
    r"[^.\n\d]{0,30}?\b(?:ending|ends|termina\w*|endet|se termine|finissant|last (?:four|4)(?: digits)?"
    r"|ultimos (?:cuatro|4)|letzten (?:vier|4))\b[^.\n\d]{0,12}(\d{4})\b"
)

# Runs of digits with separators (original text); classified one by one.
_NUMBER = re.compile(r"\d(?:(?:[ .\-/]{1,2}|\)\s?|\s?\(|\s?-\s?)?\d){6,30}")
_NUMBER_MAX_GROUPS = 30
_NUMBER_BLOCKED_BEFORE = frozenset("+@/.-_")
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}[ \-.]?(?:[A-Za-z0-9]{1,4}[ \-.]?){0,3}$")
_IBAN = re.compile(r"[A-Za-z]{2}\d{2}(?:[ \-.]?[A-Za-z0-9]){10,32}")
_IBAN_MIN_LENGTH = 15
_IBAN_LOOKBACK_CHARS = 20
_SSN_SHAPE = re.compile(r"(?!000|666|9\d\d)\d{3}([\- .])(?!00)\d{2}\1(?!0000)\d{4}")
_DATE_SHAPE = re.compile(r"\d{1,4}[./\-]\d{1,2}[./\-]\d{2,4}")
_DIGIT_GROUP = re.compile(r"\d+")
_DOUBLE_SEPARATORS = frozenset({"  ", " -", "- ", " .", ". ", " /", "/ "})
_LETTER_AFTER = re.compile(r"[ \-]?([A-Za-z])(?!\w)")
# UK National Insurance, Italian codice fiscale, Mexican CURP: upper-case led shapes.
_UPPER_IDS = re.compile(
    r"[A-Z](?<![A-Za-z0-9].)(?:(?P<nino>[A-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D])"
    r"|(?P<cf>[A-Z]{5}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z])|(?P<curp>[A-Z]{3}\d{6}[HM][A-Z]{5}[A-Z0-9]\d))(?!\w)"
)
_UPPER_ID_VALID = {"nino": lambda _: True, "cf": codicefiscale.is_valid, "curp": curp.is_valid}
_PHONE_CUE_REACH_CHARS = 40
_PHONE_CHECKS = 64  # phonenumbers validations per message, see _NumberReader
_MIN_DIGITS, _MAX_DIGITS = 7, 19  # shortest cued phone number, longest card number
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES")
_CARD_PREFIXES = "23456"


def _find_cued(text: str, folded: str, scan: Scan, spans: Spans) -> None:
    for category in ("ssn", "passport", "national_id"):
        for _, end, _ in scan.triggered(category):
            m = _ID_TAIL.match(folded, end)
            if m:
                kept, compact = _trim_value(m.group(1))
                if len(compact) >= 5 and sum(ch.isdigit() for ch in compact) >= 3:
                    spans.add(m.start(1), m.start(1) + kept, category)
    for detector, tail in (("bank", _BANK_TAIL), ("bank_weak", _BANK_WEAK_TAIL)):
        for _, end, _ in scan.triggered(detector):
            m = tail.match(folded, end)
            if m:
                spans.add(m.start(1), m.end(1), "bank_account")
    for _, end, _ in scan.triggered("card_ending"):
        m = _CARD_ENDING_TAIL.match(folded, end)
        if m:
            spans.add(m.start(1), m.end(1), "card_number")


def _trim_value(value: str) -> tuple[int, str]:
    """Drop words swallowed after an id value; returns (length kept, compact value)."""
    groups = list(re.finditer(r"[a-z0-9]+", value))
    while groups and not any(ch.isdigit() for ch in groups[-1].group()):
        groups.pop()
    if not groups:
        return 0, ""
    return groups[-1].end(), "".join(g.group() for g in groups)


def _find_iban(text: str, number_start: int, spans: Spans) -> bool:
    """An IBAN whose digits run into the number at ``number_start`` ("DE89 3704 0044 …")."""
    lo = max(0, number_start - _IBAN_LOOKBACK_CHARS)
    head = _IBAN_START.search(text, lo, number_start + 2)
    if head is None:
        return False
    m = _IBAN.match(text, head.start())
    if m is None:
        return False
    raw = m.group()
    positions = [i for i, ch in enumerate(raw) if ch.isalnum()]
    compact = "".join(raw[i] for i in positions).upper()
    # The pattern may run on into the next word; the longest valid prefix is the IBAN.
    for n in range(len(compact), _IBAN_MIN_LENGTH - 1, -1):
        if iban.is_valid(compact[:n]):
            return spans.add(m.start(), m.start() + positions[n - 1] + 1, "iban")
    return False


class _NumberReader:
    """Classifies runs of digits in one message, with a bounded number of phone-library checks.

    phonenumbers costs ~20 µs a check; a text made of hundreds of digit runs ("12 34 12 34 …") would
    otherwise take seconds. Past ``_PHONE_CHECKS`` checks, a long run counts as a phone number — the
    safe side: the message is then private, never public by default.
    """

    __slots__ = ("_checks_left", "_cue_ends", "_text")

    def __init__(self, text: str, cue_ends: list[int]) -> None:
        self._text = text
        self._cue_ends = cue_ends
        self._checks_left = _PHONE_CHECKS

    def cued(self, start: int) -> bool:
        return any(0 <= start - cue_end <= _PHONE_CUE_REACH_CHARS for cue_end in self._cue_ends)

    def _valid(self, raw: str, region: str | None) -> bool:
        if self._checks_left <= 0:
            return True
        self._checks_left -= 1
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(raw, region))
        except phonenumbers.NumberParseException:
            return False

    def _international(self, raw: str) -> str:
        return "+" + raw.lstrip("+0 ") if raw.startswith("00") else raw

    def is_phone(self, raw: str, digits: str, cued: bool) -> bool:
        if raw.startswith(("+", "00")):
            if len(digits) < 8:
                return False
            try:
                number = phonenumbers.parse(self._international(raw), None)
            except phonenumbers.NumberParseException:
                return False
            return phonenumbers.is_possible_number(number)
        if cued:
            return len(digits) >= 7
        # Nine digits at least, and not spelled out one by one ("1 2 3 4 …" needs a cue word).
        if len(digits) < 9 or max(len(g) for g in _DIGIT_GROUP.findall(raw)) < 2:
            return False
        return any(self._valid(raw, region) for region in _PHONE_REGIONS)

    def classify(self, raw: str, cued: bool) -> str | None:
        digits = "".join(ch for ch in raw if ch.isdigit())
        if _DATE_SHAPE.fullmatch(raw):
            return None  # a date; dates of birth are found with their cue in contacts.py
        n = len(digits)
        if _SSN_SHAPE.fullmatch(raw):
            return "ssn"
        if n == 15 and digits[0] in "12" and nir.is_valid(digits):
            return "national_id"
        if 13 <= n <= 19 and digits[0] in _CARD_PREFIXES and luhn.is_valid(digits):
            return "card_number"
        if self.is_phone(raw, digits, cued):
            return "phone"
        return None

    def split_run(self, start: int, groups: list[re.Match[str]]) -> tuple[int, str] | None:
        """The identifier at the head of a run of digit groups: (end, category), or None.

        A run may swallow a neighbouring number ("+1 201 555 0123  5100 0000 0000 0008"). An
        international number is cut at its longest valid phone prefix; a double space is tried as a
        boundary first; then the whole run and ever shorter prefixes. The caller rescans the rest.
        """
        text, cued = self._text, self.cued(start)
        stops, digits = [], 0
        for group in groups:
            digits += len(group.group())
            stop = group.end()
            if _MIN_DIGITS <= digits <= _MAX_DIGITS and (
                stop >= len(text) or not (text[stop].isalnum() or text[stop] == "@")
            ):
                stops.append(stop)
        if text.startswith(("+", "00"), start):
            for stop in reversed(stops):
                if self._valid(self._international(text[start:stop]), None):
                    return stop, "phone"
        order = [stop for stop in stops if text[stop : stop + 2] in _DOUBLE_SEPARATORS][:1]
        order += reversed(stops)
        for stop in order:
            category = self.classify(text[start:stop], cued)
            if category is not None:
                return stop, category
        return None


def _spanish_id(text: str, start: int, end: int, digits: str) -> int | None:
    """End of a DNI ("12345678Z") or NIE ("X1234567L") built around these digits, if valid."""
    letter = _LETTER_AFTER.match(text, end)
    if letter is None:
        return None
    if len(digits) == 8 and dni.is_valid(digits + letter.group(1)):
        return letter.end(1)
    if len(digits) == 7 and start > 0 and nie.is_valid(text[start - 1] + digits + letter.group(1)):
        return letter.end(1)
    return None


def _number_start(text: str, start: int) -> int:
    """Widen a digit run to its "(" and "+" prefix."""
    if start > 0 and text[start - 1] == "(":
        start -= 1
    if start > 0 and text[start - 1] == "+":
        start -= 1
    elif start > 1 and text[start - 2 : start] == "+ ":
        start -= 2
    return start


def _find_numbers(text: str, scan: Scan, spans: Spans) -> None:
    reader = _NumberReader(text, [end for _, end, _ in scan.triggered("phone_cue")])
    pos = slid_end = 0
    while (m := _NUMBER.search(text, pos)) is not None:
        start, end = _number_start(text, m.start()), m.end()
        groups = list(_DIGIT_GROUP.finditer(text, m.start(), end))
        # If this run is not an identifier, look again once from its second group when the first is
        # a stray small number ("2 0612345678"), else after the run.
        pos = end
        capped = len(groups) > _NUMBER_MAX_GROUPS  # a run cut by the regex, not a number's end
        if len(groups) > 1 and len(groups[0].group()) <= 2 and end != slid_end and not capped:
            pos, slid_end = groups[1].start(), end
        claimed = spans.overlap_end(start, end)
        if claimed is not None:
            pos = max(pos, claimed)
            continue
        if _find_iban(text, m.start(), spans):
            pos = max(pos, spans.overlap_end(start, end) or end)
            continue
        digits = "".join(g.group() for g in groups)
        spanish_end = _spanish_id(text, m.start(), end, digits)
        if spanish_end is not None:
            spans.add(m.start() - (len(digits) == 7), spanish_end, "national_id")
            pos = spanish_end
            continue
        before = text[start - 1] if start > 0 else " "
        if before.isalnum() or before in _NUMBER_BLOCKED_BEFORE:
            continue
        found = reader.split_run(start, groups)
        if found is not None:
            stop, category = found
            spans.add(start, stop, category)
            pos = stop


def find_numbers(text: str, folded: str, scan: Scan, spans: Spans) -> None:
    """Add financial, government-id and phone spans of one message to ``spans``."""
    _find_cued(text, folded, scan, spans)
    for m in _UPPER_IDS.finditer(text):
        kind = m.lastgroup or ""
        if _UPPER_ID_VALID[kind](m.group()):
            spans.add(m.start(), m.end(), "national_id")
    _find_numbers(text, scan, spans)
    for _, end, _ in scan.triggered("iban"):
        cued = _IBAN_CUE_TAIL.match(folded, end)
        if cued:
            spans.add(cued.start(1), cued.end(1), "bank_account")
