"""Credentials and secrets: passwords, API keys, cloud keys, tokens, private keys, connection strings.

Every pattern here is anchored where ``scan.Scan`` found one of its ``TRIGGERS`` (a cue word, or
the start of a known key format), so nothing scans the whole text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from router.scoring.text import Spans

if TYPE_CHECKING:
    from router.scoring.scan import Scan

CATEGORY = "credential"

TRIGGERS: dict[str, tuple[str, ...]] = {
    "password": (
        "password", "passwort", "passwd", "pwd", "passcode", "passphrase", "pass phrase", "pin",
        "pin code", "pin number", "contrasena", "clave", "kennwort", "mot de passe", "mdp",
        "code secret", "code pin",
    ),
    "login_pair": (
        "login", "log in", "credentials", "creds", "username and password", "user name and password",
        "usuario y contrasena", "zugangsdaten", "identifiants",
    ),
    "secret": (
        "api key", "api_key", "apikey", "secret", "secret key", "access key", "access_key",
        "access key id", "access token", "access_token", "auth token", "auth_token", "bearer token",
        "token", "client secret", "client_secret", "clave api", "api schlussel", "cle api", "jeton",
        "aws_secret_access_key", "secret_access_key",
    ),
    # First letters of provider key formats (a "*" entry matches the rest of the token).
    "key_format": (
        "sk", "sk_*", "pk_*", "rk_*", "akia*", "asia*", "agpa*", "aida*", "aroa*", "anpa*", "anva*",
        "aipa*", "ghp_*", "gho_*", "ghu_*", "ghs_*", "ghr_*", "github_pat_*", "glpat", "xoxa",
        "xoxb", "xoxp", "xoxo", "xoxs", "xoxr", "aiza*", "hf_*", "npm_*", "eyj*", "bearer", "begin",
        "postgres", "postgresql", "mysql", "mongodb", "redis", "amqp", "https", "http", "ftp", "sftp",
        "smtp",
    ),
}  # fmt: skip

# Provider key formats; case-sensitive, matched at a trigger.
_KEY_FORMATS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.*?-----END [A-Z ]*PRIVATE KEY-----)?"
    r"|sk-(?:live-|test-|proj-|ant-)?[A-Za-z0-9_\-]{16,}"
    r"|[spr]k_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r"|[Bb]earer\s+[A-Za-z0-9_\-.=+/]{16,}"
    r"|[a-z][a-z0-9+.\-]{1,15}://[^\s:/@]+:[^\s@/]+@[\w.\-]+",
    re.DOTALL,
)
_PRIVATE_KEY_PREFIX = len("-----")

_SAY = r"(?:\bis\b|\bwas\b|:|=|\bes\b|\bist\b|\blautet\b|\best\b)"
# What follows a password cue: a few words, "is" / ":", the value (matched over folded text).
_PASSWORD_TAIL = re.compile(r"[^.\n]{0,30}?" + _SAY + r"\s*['\"]?(\S{3,64})")
# "login … is runner88 / Blu3Sky!" — a user and a password together.
_LOGIN_PAIR_TAIL = re.compile(
    r"[^.\n]{0,30}?(?:\bis\b|\bare\b|:|=|\bson\b|\bsind\b|\bsont\b)\s*(\S+\s*[/|:]\s*\S+)"
)
# "api key: …", "the secret is …": a long mixed token.
_SECRET_TAIL = re.compile(r"[^.\n]{0,25}?" + _SAY + r"?\s*['\"]?([A-Za-z0-9_\-/+=.]{16,})")
_TRAILING = ".,;:!?)\"'"


def _looks_secret(value: str) -> bool:
    """A password-like value: has a digit, a symbol or inner capitals ("too", "expired" are not)."""
    if len(value) < 3:
        return False
    if any(ch.isdigit() for ch in value) or any(not ch.isalnum() for ch in value):
        return True
    return any(ch.isupper() for ch in value[1:])


def _looks_token(value: str) -> bool:
    return any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value)


def find_credentials(text: str, folded: str, scan: Scan, spans: Spans) -> None:
    """Add credential spans of one message to ``spans``."""
    for start, _, _ in scan.triggered("key_format"):
        m = _KEY_FORMATS.match(text, start) or _KEY_FORMATS.match(text, max(0, start - _PRIVATE_KEY_PREFIX))
        if m:
            spans.add(m.start(), m.end(), CATEGORY)
    for detector, tail, check in (
        ("password", _PASSWORD_TAIL, _looks_secret),
        ("login_pair", _LOGIN_PAIR_TAIL, _looks_secret),
        ("secret", _SECRET_TAIL, _looks_token),
    ):
        for _, end, _ in scan.triggered(detector):
            m = tail.match(folded, end)
            if m:
                # Folding keeps offsets, so the value is read back from the original (its case counts).
                value = text[m.start(1) : m.end(1)].rstrip(_TRAILING)
                if check(value):
                    spans.add(m.start(1), m.start(1) + len(value), CATEGORY)
