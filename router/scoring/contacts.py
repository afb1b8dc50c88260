"""Contact identifiers: emails (also "john dot doe at gmail dot com"), profile URLs, handles,
usernames, names, postal addresses, dates of birth, employers and employee ids.

Names are found from their context only ("my name is", "I'm Jenna Morales", "my colleague Tomasz
Nowak", "Dr. Whitfield", a known given name followed by a family name); a lone name with no such
context ("a character named Maria") is not an identifier.

Most patterns are the tail that follows a cue word, matched where ``scan.Scan`` found the cue.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from router.scoring import cues
from router.scoring.text import Spans

if TYPE_CHECKING:
    from router.scoring.scan import Scan

_STREET_WORDS = (
    "street", "st", "avenue", "ave", "road", "rd", "way", "lane", "ln", "drive", "dr", "boulevard", "blvd",
    "court", "ct", "place", "pl", "terrace", "close", "crescent", "square", "sq", "highway", "hwy",
    "parkway", "pkwy", "row", "mews", "gardens",
)  # fmt: skip
TRIGGERS: dict[str, tuple[str, ...]] = {
    "username": (
        "user name", "username", "usuario", "nombre de usuario", "benutzername", "nutzername",
        "nom d'utilisateur", "identifiant", "pseudo", "handle", "gamertag", "screen name", "screenname",
        "nickname", "user id", "login",
    ),
    "dob": (
        "born", "birthday", "birth date", "date of birth", "dob", "d.o.b", "nacido", "nacida", "naci",
        "nacimiento", "fecha de nacimiento", "cumpleanos", "geboren", "geburtstag", "geburtsdatum",
        "ne le", "nee le", "ne en", "nee en", "date de naissance", "anniversaire",
    ),
    "address_cue": (
        "i live", "i'm living", "we live", "vivo", "vivimos", "ich wohne", "wir wohnen", "j'habite",
        "nous habitons", "je vis", "my address", "my home address", "my postal address",
        "my street address", "mi direccion", "meine adresse", "meine anschrift", "mon adresse",
    ),
    "address_label": ("address", "adresse", "direccion", "anschrift"),
    "street_en": _STREET_WORDS,
    "street_fr": ("rue", "avenue", "boulevard", "bd", "chemin", "allee", "impasse", "quai", "place"),
    "street_es": (
        "calle", "c/", "avenida", "avda", "av", "plaza", "pza", "paseo", "camino", "carretera", "ronda",
        "travesia",
    ),
    "employer": (
        "i work", "i'm working", "i am working", "i worked", "working", "i intern", "interning",
        "employed", "employee", "engineer", "developer", "manager", "lead", "analyst", "designer", "nurse",
        "teacher", "consultant", "director", "ceo", "cto", "cfo", "founder", "scientist", "architect",
        "researcher", "recruiter", "accountant", "trabajo", "trabaja", "ich arbeite", "arbeite",
        "je travaille", "travaille",
    ),
    "employee_id": (
        "employee", "staff", "badge", "personnel", "worker", "numero de empleado", "personalnummer",
        "mitarbeiternummer", "matricule",
    ),
    "strong_intro": (
        "my name is", "my name's", "me llamo", "mi nombre es", "ich heisse", "ich heiße", "mein name ist",
        "je m'appelle", "mon nom est", "je me nomme",
    ),
    "weak_intro": (
        "i'm", "i am", "call me", "soy", "ich bin", "je suis", "this is", "it's", "c'est", "hier ist",
        "aqui",
    ),
    "relation": cues.POSSESSIVES,
    "title": (
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "sra", "srta", "herr", "frau", "mme", "mlle", "dott",
        "m",
    ),
    "given_name": tuple(name.lower() for name in cues.FIRST_NAMES),
}  # fmt: skip

_EMAIL = re.compile(
    r"(?<![\w.+\-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9\-]{0,62}(?![\w\-])"
)
_DOT = r"(?:\s*(?:\(dot\)|\[dot\]|\{dot\}|<dot>)\s*|\s+(?:dot|punto|punkt|point)\s+)"
_AT = (
    r"(?:\s*(?:\(at\)|\[at\]|\{at\}|<at>|\(@\)|\[@\])\s*|\s+(?:at|arroba|arobase|chez|at-zeichen)\s+"
    r"|\s+@\s*|\s*@\s+)"
)
_TLD = (
    r"(?:com|org|net|edu|gov|io|co|me|info|biz|de|es|fr|uk|co\.uk|eu|it|nl|be|ch|at|ca|us|au|mx|ar|br"
    r"|pt|ie|se|no|dk|fi|pl|cz|ru|jp|in|app|dev|ai|xyz|online|email|mail)"
)
# Over folded text; only run when one of the spelled-out markers is present.
_OBFUSCATED_EMAIL = re.compile(
    rf"\b[a-z0-9][a-z0-9._%+\-]*(?:{_DOT}[a-z0-9_%+\-]+){{0,3}}{_AT}[a-z0-9\-]+"
    rf"(?:(?:\.|{_DOT})[a-z0-9\-]+){{0,3}}?(?:\.|{_DOT}){_TLD}\b"
)
# Markers of a spelled-out address; every alternative starts with a fixed character, so the engine
# skips the rest of the text quickly.
_OBFUSCATION_MARKER = re.compile(
    r"\((?:at|dot|@)\)|\[(?:at|dot|@)\]|\{(?:at|dot)\}|<at>| (?:dot|arroba|arobase) | @|@ "
)
_PROFILE_SITES = (
    "linkedin.com/in/", "twitter.com/", "x.com/", "instagram.com/", "facebook.com/", "fb.com/",
    "github.com/", "gitlab.com/", "tiktok.com/", "youtube.com/", "medium.com/", "reddit.com/u",
    "t.me/", "threads.net/", "strava.com/athletes/", "snapchat.com/add/", "pinterest.com/",
    "twitch.tv/", "xing.com/profile/", "bsky.app/profile/",
)  # fmt: skip
_PROFILE_URL = re.compile(
    r"(?:https?://)?(?:www\.)?(?:" + "|".join(re.escape(s) for s in _PROFILE_SITES) + r")@?[\w.\-%]+"
)
_PROFILE_GATE = re.compile(r"\.(?:com|tv|me|net|app)/")
_HANDLE = re.compile(r"(?<![\w.@/])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?\b")
_SAY = r"(?:\bis\b|:|=|\bes\b|\bist\b|\blautet\b|\best\b)"
_USERNAME_TAIL = re.compile(r"[^.\n]{0,25}?" + _SAY + r"\s*@?([\w.\-]{3,40})")
_WEAK_USERNAME_CUES = frozenset({"login", "identifiant", "nickname"})

_UPPER = "A-ZÀ-ÖØ-Þ"
_NAME_WORD = rf"[{_UPPER}][a-zß-ÿ'\u2019][\w'\u2019\-]*"  # capitalised, not all caps ("HIV")
_NAME = rf"{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}"
_STRONG_NAME_TAIL = re.compile(r"\s+([^\W\d_][\w'\u2019\-]+)(?:\s+([^\W\d_][\w'\u2019\-]+))?")
_NAME_TAIL = re.compile(rf"\s+({_NAME})")
_TITLE_TAIL = re.compile(rf"\.?\s+({_NAME})")
_RELATIONS = (
    "manager|boss|colleague|coworker|co-worker|friend|partner|wife|husband|son|daughter|mother|mom|mum"
    "|father|dad|brother|sister|mentor|coach|therapist|doctor|teacher|client|neighbou?r|roommate"
    "|flatmate|girlfriend|boyfriend|fianc[ée]e?|ex|cousin|aunt|uncle|team lead|director|intern|report"
    "|jefe|jefa|compañer[oa]|companer[oa]|colega|amig[oa]|pareja|esposa|esposo|marido|mujer|hij[oa]"
    "|madre|padre|herman[oa]|médico|medico|terapeuta|chef|chefin|kollege|kollegin|freund|freundin"
    "|partnerin|frau|mann|sohn|tochter|mutter|vater|bruder|schwester|ärztin|arzt|cheffe|collègue"
    "|collegue|ami|amie|partenaire|femme|mari|fils|fille|mère|mere|père|pere|frère|frere|sœur|soeur"
    "|médecin|medecin|thérapeute|therapeute"
)
_RELATION_TAIL = re.compile(rf"(?i:\s+(?:[\w\-]+\s+)?(?:{_RELATIONS}))\s*,?\s+({_NAME})")
_GIVEN_NAME_TAIL = re.compile(rf"\s+[{_UPPER}][a-zß-ÿ'\u2019\-]+(?:\s+[{_UPPER}][a-zß-ÿ'\u2019\-]+)?")
_NAME_STOPWORDS = frozenset(
    (
        "not", "is", "a", "an", "the", "and", "or", "but", "from", "in", "at", "on",
        "to", "of", "with", "for", "by", "i", "y", "und", "et", "de", "da", "di",
        "ist", "est", "es", "here", "there", "very", "so", "just", "really", "also", "because", "aber",
        "mais", "pero",
    )
)  # fmt: skip
# "ich bin", "this is", "c'est" … precede ordinary words too often: they need a two-word name.
_TWO_WORD_INTROS = frozenset({"ich bin", "this is", "it's", "c'est", "hier ist", "aqui"})

_STREET_EN = "|".join(w.capitalize() for w in _STREET_WORDS)
_ADDRESS_EN = re.compile(rf"\d{{1,5}}[A-Za-z]?\s+(?:[{_UPPER}][\w'\u2019\-]*\s+){{1,3}}$")
_ADDRESS_FR_BEFORE = re.compile(r"\d{1,4}(?:\s?(?:bis|ter))?,?\s+$")
_ADDRESS_FR_AFTER = re.compile(
    r"\s+(?:(?:de|du|des)\s+)?(?:d[eu]\s+|des\s+|de\s+la\s+|d['\u2019]|l['\u2019]|la\s+|le\s+)?[\w'\u2019\-]+"
)
_ADDRESS_ES_AFTER = re.compile(
    rf"\.?\s+(?:(?:de|del|la|los|las|el)\s+){{0,2}}[{_UPPER}][\w'\u2019\-]*(?:\s+[\w'\u2019\-]+){{0,3}}?,?\s*"
    r"(?:n[º°o.]?\s*)?\d{1,4}\b"
)
# Street, number ("Hauptstraße 12"); and upper-case led postcodes (UK "NW1 6XE", US "DC 20500").
_ADDRESS_DE = re.compile(
    r"(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer)\s+\d{1,4}\s?[a-z]?\b"
)
_POSTCODE = re.compile(
    r"[A-Z](?<![A-Za-z0-9].)(?:(?P<uk>[A-Z]?\d[A-Z\d]?\s?\d[A-Z]{2})|(?P<us>[A-Z]\s+\d{5}(?:-\d{4})?))(?!\w)"
)
_POSTCODE_CITY = re.compile(r",\s*\d{5}\s+[A-ZÄÖÜÉ][\wäöüß\-]+")  # "…, 10115 Berlin"
_US_STATES = frozenset(
    (
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
        "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
        "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
    )
)  # fmt: skip
_ADDRESS_TAIL = re.compile(
    r"(?i:\s+(?:in|at|on|en|a|à|au|aux|in der|im|am|is|es|ist|lautet|est|:))?\s*:?"
    rf"\s+([{_UPPER}\d][^\n.;!?]{{1,60}})"
)
_DIGIT = re.compile(r"\d")
_ADDRESS_LABEL_TAIL = re.compile(rf"\s*:\s*([{_UPPER}\d][^\n.;!?]{{1,60}})")

_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar"
    r"|apr|jun|jul|aug|sept?|oct|nov|dec|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre"
    r"|setiembre|octubre|noviembre|diciembre|januar|janner|februar|marz|mai|juni|juli|oktober|dezember"
    r"|janvier|fevrier|mars|avril|juin|juillet|aout|septembre|octobre|novembre|decembre"
)
_DATE = (
    rf"\d{{1,4}}[./\-]\d{{1,2}}[./\-]\d{{2,4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th|er|º)?\.?(?:\s+of|\s+de)?\s+(?:{_MONTHS})\b\.?(?:,?\s+(?:de\s+)?\d{{4}})?"
    rf"|(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    r"|(?:19|20)\d{2}\b"
)
_DOB_TAIL = re.compile(rf"[^.\n\d]{{0,25}}?({_DATE})")
# German puts the date first: "ich bin am 3. Mai 1985 geboren".
_DOB_BEFORE = re.compile(rf"({_DATE})[^.\n\d]{{0,12}}$")

_EMPLOYER_TAIL = re.compile(
    r"(?:\s+as\s+(?:an?\s+)?[\w\- ]{1,30}?)?\s+(?i:at|for|@|en|para|bei|für|chez|pour)"
    rf"\s+([{_UPPER}][\w&'\u2019.\-]*(?:\s+[{_UPPER}][\w&'\u2019.\-]*){{0,3}})"
)
_EMPLOYEE_ID_TAIL = re.compile(
    r"(?i:\s*(?:id|number|no\.?|#|nr\.?))?\s*[:#]?\s*(?:is\s+)?([A-Za-z]{0,3}\d[\w\-]{1,15})"
)


def find_emails(text: str, folded: str, spans: Spans) -> None:
    """Add email, handle and profile-URL spans (run first: they hold digits the number scan would take)."""
    if "@" in text:
        for m in _EMAIL.finditer(text):
            spans.add(m.start(), m.end(), "email")
        for m in _HANDLE.finditer(text):
            spans.add(m.start(), m.end(), "username")
    if _OBFUSCATION_MARKER.search(folded):
        for m in _OBFUSCATED_EMAIL.finditer(folded):
            spans.add(m.start(), m.end(), "email")
    if _PROFILE_GATE.search(folded):
        for m in _PROFILE_URL.finditer(folded):
            spans.add(m.start(), m.end(), "profile_url")


def _add_name(spans: Spans, start: int, name: str) -> None:
    # Keep the leading words that look like a name ("Priya Raman keeps" → "Priya Raman").
    kept: list[str] = []
    for word in name.split():
        if word.lower().strip("'\u2019") in cues.NOT_NAMES:
            break
        kept.append(word)
    if kept:
        spans.add(start, start + len(" ".join(kept)), "name")


def _find_names(text: str, folded: str, scan: Scan, spans: Spans) -> None:
    for _, end, _ in scan.triggered("strong_intro"):
        m = _STRONG_NAME_TAIL.match(text, end)
        if m is None or m.group(1).lower() in _NAME_STOPWORDS:
            continue
        first, second = m.group(1), m.group(2)
        stop = m.end(1)
        if second and second.lower() not in _NAME_STOPWORDS and (second[0].isupper() or first.islower()):
            stop = m.end(2)
        spans.add(m.start(1), stop, "name")
    for start, end, _ in scan.triggered("weak_intro"):
        m = _NAME_TAIL.match(text, end)
        if m and (len(m.group(1).split()) >= 2 or folded[start:end] not in _TWO_WORD_INTROS):
            _add_name(spans, m.start(1), m.group(1))
    for tail, detector in ((_RELATION_TAIL, "relation"), (_TITLE_TAIL, "title")):
        for start, end, _ in scan.triggered(detector):
            # "Dr", "Frau", "M." — capitalised, and a lone "M" only with its full stop.
            lone_m = end - start == 1 and text[end : end + 1] != "."
            if detector == "title" and (not text[start].isupper() or lone_m):
                continue
            m = tail.match(text, end)
            if m:
                _add_name(spans, m.start(1), m.group(1))
    for start, end, _ in scan.triggered("given_name"):
        if text[start].isupper():
            m = _GIVEN_NAME_TAIL.match(text, end)
            if m:
                _add_name(spans, start, text[start : m.end()])


def _find_usernames(text: str, folded: str, scan: Scan, spans: Spans) -> None:
    for start, end, _ in scan.triggered("username"):
        m = _USERNAME_TAIL.match(folded, end)
        if m is None:
            continue
        value = text[m.start(1) : m.end(1)].rstrip(".-")
        if value.lower() in _NAME_STOPWORDS:
            continue
        strong = folded[start:end] not in _WEAK_USERNAME_CUES
        if strong or any(ch.isdigit() or ch in "_." for ch in value):
            spans.add(m.start(1), m.start(1) + len(value), "username")


def _find_addresses(text: str, folded: str, scan: Scan, spans: Spans) -> None:
    for start, end, _ in scan.triggered("street_en"):
        if text[start].isupper():
            m = _ADDRESS_EN.search(text, max(0, start - 60), start)
            if m:
                spans.add(m.start(), end, "address")
    for start, end, _ in scan.triggered("street_fr"):
        before = _ADDRESS_FR_BEFORE.search(folded, max(0, start - 12), start)
        after = _ADDRESS_FR_AFTER.match(folded, end)
        if before and after:
            spans.add(before.start(), after.end(), "address")
    for start, end, _ in scan.triggered("street_es"):
        m = _ADDRESS_ES_AFTER.match(text, end)
        if m:
            spans.add(start, m.end(), "address")
    for detector, tail in (("address_cue", _ADDRESS_TAIL), ("address_label", _ADDRESS_LABEL_TAIL)):
        for _, end, _ in scan.triggered(detector):
            m = tail.match(text, end)
            if m:
                spans.add(m.start(1), m.end(1), "address")
    if _DIGIT.search(text):
        for m in _ADDRESS_DE.finditer(folded):
            spans.add(m.start(), m.end(), "address")
        for m in _POSTCODE.finditer(text):
            # A US state + ZIP only after "City, " ("ID 88213" is an employee id, not Idaho).
            after_city = text[max(0, m.start() - 2) : m.start()] == ", "
            if m.group("uk") or (m.group()[:2] in _US_STATES and after_city):
                spans.add(m.start(), m.end(), "address")
        for m in _POSTCODE_CITY.finditer(text):
            spans.add(m.start(), m.end(), "address")


def _find_dates_of_birth(folded: str, scan: Scan, spans: Spans) -> None:
    for start, end, _ in scan.triggered("dob"):
        m = _DOB_TAIL.match(folded, end) or _DOB_BEFORE.search(folded, max(0, start - 40), start)
        if m:
            spans.add(m.start(1), m.end(1), "date_of_birth")


def _find_employer(text: str, scan: Scan, spans: Spans) -> None:
    for _, end, _ in scan.triggered("employer"):
        m = _EMPLOYER_TAIL.match(text, end)
        if m:
            value = m.group(1).rstrip(".")
            if value.split()[0].lower() not in cues.NOT_NAMES:
                spans.add(m.start(1), m.start(1) + len(value), "employer")
    for _, end, _ in scan.triggered("employee_id"):
        m = _EMPLOYEE_ID_TAIL.match(text, end)
        if m:
            spans.add(m.start(1), m.end(1), "employee_id")


def find_contacts(text: str, folded: str, scan: Scan, spans: Spans) -> None:
    """Add the other contact-identifier spans of one message to ``spans`` (after ``find_emails``)."""
    _find_usernames(text, folded, scan, spans)
    _find_dates_of_birth(folded, scan, spans)
    _find_employer(text, scan, spans)
    _find_addresses(text, folded, scan, spans)
    _find_names(text, folded, scan, spans)
