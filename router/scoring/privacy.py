"""Privacy scoring: public / private / sensitive, from every message of the conversation.

Levels:

* sensitive — special categories (health, religion, minors, self-harm, …), credentials, government,
  payment and bank identifiers. Never leaves the local pools.
* private — contact identifiers (email, phone, address, name, username, profile URL, date of birth,
  employer, employee id). May reach the cloud only when policy allows, and then redacted.
* public — nothing of the above, including topics named in the abstract.

Every message counts — system prompts and earlier turns included — because the engine sees the
whole conversation. Results carry category names only, never matched text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coachline.domain import PrivacyLevel
from router.scoring.contacts import find_contacts, find_emails
from router.scoring.credentials import find_credentials
from router.scoring.numbers import find_numbers
from router.scoring.scan import Scan, scan_text
from router.scoring.special import special_categories
from router.scoring.text import Spans, fold

SENSITIVE_CATEGORIES = frozenset(
    {
        # identifiers
        "credential", "card_number", "iban", "bank_account", "ssn", "passport", "national_id",
        # special categories
        "health", "mental_health", "medication", "pregnancy", "sexual_orientation", "gender_identity",
        "religion", "political_opinion", "ethnicity", "trade_union", "immigration", "legal",
        "substance_use", "self_harm", "minor", "financial", "violence",
    }
)  # fmt: skip
PRIVATE_CATEGORIES = frozenset(
    {
        "email", "phone", "address", "name", "username", "profile_url", "date_of_birth", "employer",
        "employee_id",
    }
)  # fmt: skip

PLACEHOLDERS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "address": "[ADDRESS]",
    "name": "[NAME]",
    "username": "[USERNAME]",
    "profile_url": "[URL]",
    "date_of_birth": "[DATE_OF_BIRTH]",
    "employer": "[EMPLOYER]",
    "employee_id": "[EMPLOYEE_ID]",
    "credential": "[SECRET]",
    "card_number": "[CARD]",
    "iban": "[IBAN]",
    "bank_account": "[ACCOUNT]",
    "ssn": "[SSN]",
    "passport": "[PASSPORT]",
    "national_id": "[NATIONAL_ID]",
}


@dataclass(frozen=True, slots=True)
class PrivacyResult:
    """The level and the categories that drove it (names like ``email``, ``health`` — never text)."""

    level: PrivacyLevel
    categories: frozenset[str]


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message; OpenAI-style lists of content parts are joined."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content]
        return "\n".join(p for p in parts if isinstance(p, str))
    return str(content)


def _identifier_spans(text: str, folded: str, scan: Scan) -> Spans:
    # Order is priority: a span claimed by an earlier detector is not re-read by a later one.
    spans = Spans()
    find_credentials(text, folded, scan, spans)
    find_emails(text, folded, spans)
    find_numbers(text, folded, scan, spans)
    find_contacts(text, folded, scan, spans)
    return spans


def message_categories(text: str, role: str = "user") -> set[str]:
    """All privacy categories found in one message's text."""
    if not text:
        return set()
    folded = fold(text)
    scan = scan_text(folded)
    return _identifier_spans(text, folded, scan).categories() | special_categories(folded, scan, role)


def level_for(categories: frozenset[str] | set[str]) -> PrivacyLevel:
    """The privacy level implied by a set of categories."""
    if categories & SENSITIVE_CATEGORIES:
        return PrivacyLevel.SENSITIVE
    if categories:  # every other category is a contact identifier
        return PrivacyLevel.PRIVATE
    return PrivacyLevel.PUBLIC


def detect_privacy(messages: Sequence[Mapping[str, Any]]) -> PrivacyResult:
    """Privacy level of a conversation: the strictest over every message, whatever its role.

    Pure and deterministic; it raises only on a bug, and the caller treats a raise as sensitive.
    """
    found: set[str] = set()
    for message in messages:
        found |= message_categories(message_text(message), str(message.get("role", "user")))
    categories = frozenset(found)
    return PrivacyResult(level=level_for(categories), categories=categories)


def redact_text(text: str) -> str:
    """Replace identifier spans of one text with placeholders such as ``[EMAIL]`` or ``[PHONE]``.

    Special-category words ("diagnosed", "pregnant") are left alone: they are the request's meaning,
    and a request that holds them is sensitive, so it never goes to the cloud, redacted or not.
    """
    if not text:
        return text
    folded = fold(text)
    spans = sorted(_identifier_spans(text, folded, Scan(folded)).items)
    out: list[str] = []
    pos = 0
    for start, end, category in spans:
        out.append(text[pos:start])
        out.append(PLACEHOLDERS.get(category, "[REDACTED]"))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``messages`` with personal identifiers replaced by placeholders (other keys kept)."""
    redacted = []
    for message in messages:
        copy = dict(message)
        copy["content"] = redact_text(message_text(message))
        redacted.append(copy)
    return redacted
