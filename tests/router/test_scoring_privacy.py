"""Privacy detection: labelled sets, each identifier format, each special category, every placement."""

from __future__ import annotations

from pathlib import Path

import pytest

import coachline
from coachline.domain import PrivacyLevel
from router.scoring import detect_privacy, redact_messages
from router.scoring.evaluate import evaluate, load_cases
from router.scoring.privacy import PRIVATE_CATEGORIES, SENSITIVE_CATEGORIES

SAMPLE = Path(coachline.__file__).parent / "data" / "coaching_requests.jsonl"
OWN_CASES = Path(__file__).parent / "data" / "privacy_cases.jsonl"
MAX_PUBLIC_FLAGGED = 0.15


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("path", [SAMPLE, OWN_CASES], ids=["sample", "own-cases"])
def test_labelled_set_has_no_sensitive_miss_and_few_public_flags(path: Path) -> None:
    report = evaluate(load_cases(path))
    assert report.missed_sensitive == []
    assert report.public_false_positive_rate is not None
    assert report.public_false_positive_rate <= MAX_PUBLIC_FLAGGED, report.flagged_public


@pytest.mark.parametrize("path", [SAMPLE, OWN_CASES], ids=["sample", "own-cases"])
def test_labelled_private_requests_are_never_public(path: Path) -> None:
    # A private request scored public would reach the cloud without redaction.
    report = evaluate(load_cases(path))
    assert report.confusion["private"]["public"] == 0


def test_own_cases_cover_languages_placements_and_odd_formats() -> None:
    cases = load_cases(OWN_CASES)
    assert len(cases) >= 60
    roles = [{m["role"] for m in c["messages"]} for c in cases]
    assert sum("system" in r for r in roles) >= 5
    assert sum(len(c["messages"]) > 1 for c in cases) >= 10
    text = " ".join(m["content"] for c in cases for m in c["messages"])
    for marker in ("¿", "ß", "è", " dot ", "(at)"):  # Spanish, German, French, spelled-out addresses
        assert marker in text


IDENTIFIERS = [
    # email, also spelled out
    ("Write to jenna.morales@example.com tonight", "email"),
    ("EMAIL ME AT JOHN.DOE@GMAIL.COM", "email"),
    ("reach me at john dot doe at gmail dot com", "email"),
    ("contact: maria.lopez(at)uni-heidelberg(dot)de", "email"),
    ("send it to ana [at] example [dot] org", "email"),
    ("my email: jane.doe @ example.com", "email"),
    # phones
    ("Send my summary to +1 415 555 0134 please", "phone"),
    ("Call me at (212) 555-0199 tomorrow", "phone"),
    ("Text me on 415.555.0182 later", "phone"),
    ("Llámame al 612 34 56 78 mañana", "phone"),
    ("Ruf mich unter 030 1234567 an", "phone"),
    ("Mon numéro est le 06 12 34 56 78", "phone"),
    ("Appelle-moi au +33 6 12 34 56 78", "phone"),
    ("call me on 0 7 9 1 1  1 2 3 4 5 6", "phone"),
    ("Ruf mich an: +49 (0)30 1234567", "phone"),
    # addresses, names, usernames, dates of birth, employers
    ("I live at 42 Wallaby Way, Sydney", "address"),
    ("Meine Adresse ist Hauptstraße 12, 10115 Berlin", "address"),
    ("J'habite au 15 rue de la Paix, 75002 Paris", "address"),
    ("Vivo en Calle Mayor 12, Madrid", "address"),
    ("Send it to 221B Baker Street, London NW1 6XE", "address"),
    ("Hi, I'm Jenna Morales, a designer", "name"),
    ("my name is oliver grant, remind me", "name"),
    ("Me llamo Lucía Fernández", "name"),
    ("Ich heiße Jonas Weber", "name"),
    ("Je m'appelle Camille Durand", "name"),
    ("My manager, Priya Raman, keeps moving our 1:1", "name"),
    ("Draft a note to Dr. Alan Whitfield", "name"),
    ("My username on the app is kwalsh_88", "username"),
    ("follow @sam_codes_daily for updates", "username"),
    ("Review https://www.linkedin.com/in/olivia-chen-123 please", "profile_url"),
    ("my birthday is 14 February 1990", "date_of_birth"),
    ("Nací el 12 de marzo de 1991", "date_of_birth"),
    ("Ich bin am 3. Mai 1985 geboren", "date_of_birth"),
    ("I work at Initech as a QA lead", "employer"),
    ("This is Marcus (employee ID 88213)", "employee_id"),
    # financial and government identifiers
    ("Use my card 4111 1111 1111 1111 exp 09/27", "card_number"),
    ("card number 4111.1111.1111.1111 please", "card_number"),
    ("pay with 5500-0000-0000-0004", "card_number"),
    ("amex 3782 822463 10005 for the renewal", "card_number"),
    ("my account number at Chase ends in 4471", "bank_account"),
    ("Routing number 021000021, account 123456789012", "bank_account"),
    ("My IBAN is DE89 3704 0044 0532 0130 00", "iban"),
    ("iban: gb82 west 1234 5698 7654 32", "iban"),
    ("IBAN FR1420041010050500013M02606 pour le prélèvement", "iban"),
    ("My SSN is 123-45-6789", "ssn"),
    ("Here is my SSN: 123 45 6789", "ssn"),
    ("my social security number is 123456789", "ssn"),
    ("my passport number is X12345678", "passport"),
    ("Mi DNI es 12345678Z", "national_id"),
    ("Mi NIE es X1234567L", "national_id"),
    ("Mon numéro de sécurité sociale est 2 84 05 75 123 456 72", "national_id"),
    ("Meine Steuer-ID ist 65 929 970 489", "national_id"),
    # credentials
    ("Here's my password for the app: Tr0ub4dor&3", "credential"),
    ("Mein Passwort für die App ist Sommer2024!", "credential"),
    ("Mon mot de passe est Soleil#2024", "credential"),
    ("my API key sk-live-51HkT9aQz3Rr8pLmN0vB2cX7dE4fG6hJ for the tracker", "credential"),
    ("AWS key AKIAIOSFODNN7EXAMPLE in the config", "credential"),
    ("token ghp_16C7e42F292c6912E7710c838347Ae178B4a please", "credential"),
    ("connect to postgres://admin:S3cret!@db.example.com/habits", "credential"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----", "credential"),
]


@pytest.mark.parametrize(("text", "category"), IDENTIFIERS)
def test_identifier_is_detected_with_its_category_and_level(text: str, category: str) -> None:
    result = detect_privacy(user(text))
    assert category in result.categories
    expected = PrivacyLevel.SENSITIVE if category in SENSITIVE_CATEGORIES else PrivacyLevel.PRIVATE
    assert result.level == expected


DISCLOSURES = [
    ("I was diagnosed with depression last year", "mental_health"),
    ("I'm on sertraline 50mg and feel tired", "medication"),
    ("Started Wellbutrin last week, feeling jittery", "medication"),
    ("I'm 12 weeks pregnant", "pregnancy"),
    ("My husband has stage 3 colon cancer", "health"),
    ("I'm gay and not out at work yet", "sexual_orientation"),
    ("I'm non-binary and keep being misgendered", "gender_identity"),
    ("As a practising Muslim I fast during Ramadan", "religion"),
    ("I'm a member of the Labour party", "political_opinion"),
    ("I'm black and the only person of colour on my team", "ethnicity"),
    ("I'm a union organiser at my warehouse", "trade_union"),
    ("I'm an undocumented immigrant working two jobs", "immigration"),
    ("I'm being investigated for a DUI", "legal"),
    ("My partner hits me when he's drunk", "violence"),
    ("I'm in recovery from alcohol addiction, 90 days sober", "substance_use"),
    ("my son is 14 and refuses homework", "minor"),
    ("I'm 16 and want to plan my revision", "minor"),
    ("I've been thinking everyone would be better off without me", "self_harm"),
    ("I'm $30k in debt and drowning", "financial"),
    ("Me diagnosticaron ansiedad generalizada", "mental_health"),
    ("Estoy embarazada de 20 semanas", "pregnancy"),
    ("Mi hijo tiene 12 años y tiene TDAH", "minor"),
    ("A veces pienso que estarían mejor sin mí", "self_harm"),
    ("Ich habe Depressionen", "mental_health"),
    ("Ich bin schwul", "sexual_orientation"),
    ("Ich will manchmal nicht mehr leben", "self_harm"),
    ("Je suis enceinte de trois mois", "pregnancy"),
    ("On m'a diagnostiqué un cancer du sein", "health"),
    ("J'ai envie d'en finir", "self_harm"),
    ("Je suis syndiqué à la CGT", "trade_union"),
]


@pytest.mark.parametrize(("text", "category"), DISCLOSURES)
def test_disclosure_of_a_special_category_is_sensitive(text: str, category: str) -> None:
    result = detect_privacy(user(text))
    assert result.level == PrivacyLevel.SENSITIVE
    assert category in result.categories


GENERIC = [
    "How do I handle stress at work?",
    "Tips for a job interview",
    "How to talk to my manager about a raise",
    "What is the history of trade unions?",
    "Explain how antidepressants work in general.",
    "What is Ozempic?",
    "How can I be a better ally to LGBT colleagues?",
    "How can I support my team during Ramadan?",
    "As a manager, how do I support employees with depression?",
    "I'm reading a book about depression in the workplace.",
    "Our technical debt is huge; how do I plan a refactoring sprint?",
    "Which number is 555-0100 usually used for in movies?",
    "My favourite number is 4111. Give me a fun fact.",
    "Write a story about a character named Maria who wakes up early.",
    "What are the best practices for storing passwords securely?",
    "Plan a 30-60-90 day onboarding starting 2025-03-01.",
    "¿Qué es la depresión y cómo se trata en general?",
    "Erkläre mir, wie Gewerkschaften entstanden sind.",
    "Quels sont les symptômes courants du burn-out en général ?",
    "4111 1111 1111 1112 is a made-up number",  # fails the Luhn check
]


@pytest.mark.parametrize("text", GENERIC)
def test_generic_question_or_abstract_topic_is_public(text: str) -> None:
    result = detect_privacy(user(text))
    assert result == detect_privacy(user(text))  # deterministic
    assert result.level == PrivacyLevel.PUBLIC
    assert result.categories == frozenset()


@pytest.mark.parametrize(
    "messages",
    [
        [
            {"role": "system", "content": "Client notes: the client is pregnant and works nights."},
            {"role": "user", "content": "Plan my week."},
        ],
        [
            {"role": "system", "content": "Klientin: 29 Jahre, nimmt Lithium wegen bipolarer Störung."},
            {"role": "user", "content": "Plane meine Woche."},
        ],
        [
            {"role": "user", "content": "I got out of prison last month."},
            {"role": "assistant", "content": "Thanks for sharing. What would you like to work on?"},
            {"role": "user", "content": "Finding a job. Make me a 30-day plan."},
        ],
        [
            {"role": "assistant", "content": "Since you mentioned your epilepsy, let's avoid screens."},
            {"role": "user", "content": "OK, what else should I change?"},
        ],
        [
            {"role": "assistant", "content": "Noted, I'll remember your card 4012 8888 8888 1881."},
            {"role": "user", "content": "Great, now suggest a reading list."},
        ],
    ],
    ids=["system-en", "system-de", "earlier-user-turn", "assistant-health", "assistant-card"],
)
def test_sensitive_data_outside_the_last_user_turn_counts(messages: list[dict[str, str]]) -> None:
    assert detect_privacy(messages).level == PrivacyLevel.SENSITIVE


def test_system_prompt_that_only_names_sensitive_topics_stays_public() -> None:
    messages = [
        {
            "role": "system",
            "content": "Never store passwords or health data. Refuse requests for a diagnosis.",
        },
        {"role": "user", "content": "Give me three tips for better focus."},
    ]
    assert detect_privacy(messages).level == PrivacyLevel.PUBLIC


def test_contact_identifier_with_special_category_is_sensitive() -> None:
    result = detect_privacy(user("I'm recovering from a stroke, email tips to pat.m@example.com"))
    assert result.level == PrivacyLevel.SENSITIVE
    assert {"email", "health"} <= result.categories


def test_categories_are_names_never_message_text() -> None:
    text = "I'm Jenna Morales (jenna@example.com), diagnosed with diabetes, card 4111 1111 1111 1111"
    result = detect_privacy(user(text))
    assert result.categories <= SENSITIVE_CATEGORIES | PRIVATE_CATEGORIES
    assert all(category.isidentifier() and category.islower() for category in result.categories)
    assert not any(category in text.lower() for category in result.categories - {"name"})


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": None}],
        [{"role": "user"}],
        [{"role": "user", "content": [{"type": "text", "text": "my SSN is 123-45-6789"}]}],
    ],
    ids=["empty", "blank", "none", "missing", "content-parts"],
)
def test_odd_message_shapes_do_not_raise(messages: list[dict[str, object]]) -> None:
    result = detect_privacy(messages)
    expected = PrivacyLevel.SENSITIVE if "SSN" in str(messages) else PrivacyLevel.PUBLIC
    assert result.level == expected


def test_redaction_replaces_identifiers_with_placeholders_and_keeps_the_rest() -> None:
    messages = [
        {"role": "system", "content": "You are a coach.", "name": "coach"},
        {
            "role": "user",
            "content": "I'm Jenna Morales, reach me at jenna.morales@example.com or +1 415 555 0134, "
            "my card is 4111 1111 1111 1111.",
        },
    ]
    redacted = redact_messages(messages)
    assert redacted[0] == messages[0]
    content = redacted[1]["content"]
    assert content == ("I'm [NAME], reach me at [EMAIL] or [PHONE], my card is [CARD].")
    assert messages[1]["content"].startswith("I'm Jenna")  # the input is not modified
    assert redacted[1]["role"] == "user"


def test_redacted_private_request_is_public_again() -> None:
    messages = user("My manager, Priya Raman, wants a summary at priya.raman@acme-corp.example by 5pm.")
    assert detect_privacy(messages).level == PrivacyLevel.PRIVATE
    assert detect_privacy(redact_messages(messages)).level == PrivacyLevel.PUBLIC
