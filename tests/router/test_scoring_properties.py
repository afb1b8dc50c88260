"""Property tests: a sensitive item anywhere makes the conversation sensitive; redaction removes
emails, phones and cards; scoring never fails or leaks text on arbitrary input."""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn

from coachline.domain import PrivacyLevel
from router.scoring import detect_privacy, redact_messages, score_complexity
from router.scoring.privacy import PRIVATE_CATEGORIES, SENSITIVE_CATEGORIES

# Ordinary coaching sentences in the four languages, none of them private or sensitive.
FILLER = [
    "Help me plan my week.",
    "I want to read more books this year.",
    "Give me three tips to stay focused in the morning.",
    "How do I prepare for a salary negotiation with my manager?",
    "Our team ships every two weeks and meetings take too long.",
    "What is a growth mindset?",
    "Thanks, that helps a lot!",
    "Quiero correr tres veces por semana.",
    "¿Cómo organizo mejor mi tiempo en el trabajo?",
    "Ich möchte morgens früher aufstehen.",
    "Wie priorisiere ich meine Aufgaben?",
    "Je veux arrêter de procrastiner.",
    "Comment rester motivé quand on travaille seul ?",
]

# Self-contained sensitive statements: each must make any conversation it lands in sensitive.
SENSITIVE_ITEMS = [
    "I was diagnosed with bipolar disorder last year.",
    "I take sertraline every morning.",
    "I'm 14 weeks pregnant.",
    "My daughter is 13 and has ADHD.",
    "I've been thinking about killing myself.",
    "I'm gay and not out at work.",
    "I'm an undocumented immigrant.",
    "My SSN is 123-45-6789.",
    "Use my card 4111 1111 1111 1111 for the renewal.",
    "My IBAN is DE89 3704 0044 0532 0130 00.",
    "My password is Tr0ub4dor&3.",
    "Here is my key sk-live-51HkT9aQz3Rr8pLmN0vB2cX7dE4fG6hJ.",
    "Me diagnosticaron depresión.",
    "Estoy embarazada de 20 semanas.",
    "Mi DNI es 12345678Z.",
    "Ich habe Krebs und mache eine Chemotherapie.",
    "Ich bin schwanger.",
    "Je suis enceinte de trois mois.",
    "J'ai envie d'en finir.",
]

ROLES = st.sampled_from(["system", "user", "assistant"])
filler_text = st.lists(st.sampled_from(FILLER), max_size=4).map(" ".join)
conversation = st.lists(st.tuples(ROLES, filler_text), min_size=0, max_size=5)


@st.composite
def with_injected_item(draw: st.DrawFn) -> list[dict[str, str]]:
    turns = draw(conversation)
    item = draw(st.sampled_from(SENSITIVE_ITEMS))
    if not turns or draw(st.booleans()):  # a message of its own, at any position, any role
        turns.insert(draw(st.integers(0, len(turns))), (draw(ROLES), item))
    else:  # inside an existing message, between any two of its sentences
        index = draw(st.integers(0, len(turns) - 1))
        role, text = turns[index]
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
        sentences.insert(draw(st.integers(0, len(sentences))), item)
        turns[index] = (role, "\n".join(sentences))
    return [{"role": role, "content": text} for role, text in turns]


@settings(max_examples=300, deadline=None, database=None)
@given(with_injected_item())
def test_a_sensitive_item_anywhere_makes_the_conversation_sensitive(messages: list[dict[str, str]]) -> None:
    assert detect_privacy(messages).level == PrivacyLevel.SENSITIVE


@settings(max_examples=100, deadline=None, database=None)
@given(conversation)
def test_filler_alone_is_public(turns: list[tuple[str, str]]) -> None:
    messages = [{"role": role, "content": text} for role, text in turns]
    assert detect_privacy(messages).level == PrivacyLevel.PUBLIC


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["4", "51", "55", "37", "6011"]))
    length = 15 if prefix == "37" else 16
    body = prefix + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"),
                min_size=length - len(prefix) - 1,
                max_size=length - len(prefix) - 1,
            )
        )
    )
    number = body + luhn.calc_check_digit(body)
    separator = draw(st.sampled_from(["", " ", "-", "."]))
    return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["US", "GB", "DE", "FR", "ES"]))
    number = phonenumbers.example_number_for_type(
        region,
        draw(st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])),
    )
    assert number is not None
    style = draw(
        st.sampled_from([phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL])
    )
    return phonenumbers.format_number(number, style)


identifier = st.one_of(
    st.emails().map(lambda e: ("email", e)),
    phone_numbers().map(lambda p: ("phone", p)),
    card_numbers().map(lambda c: ("card", c)),
)
# Words between identifiers (at least one: "+49 30 123456 5100 0000 …" with nothing between is read as
# one number), without digits or "@", so any digit or "@" left after redaction came from an identifier.
plain_words = st.lists(
    st.sampled_from(["please", "send", "the", "plan", "to", "or", "call", "tomorrow"]), min_size=1, max_size=6
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(plain_words, identifier), min_size=1, max_size=3), ROLES)
def test_redaction_removes_emails_phones_and_cards(
    parts: list[tuple[list[str], tuple[str, str]]], role: str
) -> None:
    text = " ".join(" ".join(words) + " " + value for words, (_, value) in parts) + " thanks"
    [redacted] = redact_messages([{"role": role, "content": text}])
    for _, (_, value) in parts:
        assert value not in redacted["content"]
    assert "@" not in redacted["content"]
    assert not re.search(r"\d{3}", redacted["content"])  # no run of digits survives


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.tuples(ROLES, st.text(max_size=300)), max_size=4))
def test_arbitrary_text_never_fails_and_yields_only_known_categories(turns: list[tuple[str, str]]) -> None:
    messages = [{"role": role, "content": text} for role, text in turns]
    result = detect_privacy(messages)
    assert result.categories <= SENSITIVE_CATEGORIES | PRIVATE_CATEGORIES
    complexity = score_complexity(messages)
    assert 0.0 <= complexity.score <= 1.0
    assert all(isinstance(v, float) for v in complexity.signals.values())
    redacted = redact_messages(messages)
    assert [m["role"] for m in redacted] == [m["role"] for m in messages]
