"""Keep secrets out of everything incident_lab writes.

Targets register the secrets they resolve (passwords, API keys); `scrub` replaces
them, and anything shaped like a credential, in any text before it is shown, logged
or archived.
"""

import re
from collections.abc import Iterable, Sequence

MASK = "***"

_known_secrets: set[str] = set()

# Query parameters that carry credentials in the wild: tokens, API keys, signatures (the
# X-Amz-* set of presigned URLs, Azure's sig, Google's key), passwords, auth codes.
SECRET_QUERY_NAMES = (
    r"[\w.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|credential|signature)[\w.-]*"
    r"|key|sig|auth|code|session|x-amz-[\w-]+|x-goog-[\w-]+"
)

# Shapes that carry a credential even when we never saw the secret itself.
_PATTERNS = [
    (re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]+(?=@)", re.I), r"\g<keep>" + MASK),
    (re.compile(r"(?P<keep>password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.I), r"\g<keep>" + MASK),
    # SQL that sets a password (CREATE/ALTER ROLE … PASSWORD '…'), as seen in another session's query.
    (re.compile(r"(?P<keep>\bpassword\s+)'(?:[^']|'')*'", re.I), r"\g<keep>'" + MASK + "'"),
    # A header quoted in JSON: "Authorization": "Bearer …".
    (
        re.compile(r"(?P<keep>\"(?:authorization|x-api-key|api-key)\"\s*:\s*\")[^\"]*", re.I),
        r"\g<keep>" + MASK,
    ),
    # A credential in a URL's query, wherever the URL appears (a target, a link, an error).
    (re.compile(rf"(?P<keep>[?&;](?:{SECRET_QUERY_NAMES})=)[^&;#\s\"'<>]+", re.I), r"\g<keep>" + MASK),
    (
        re.compile(r"(?P<keep>\b(?:authorization|x-api-key|api-key)\s*[:=]\s*)(?:bearer\s+)?\S+", re.I),
        r"\g<keep>" + MASK,
    ),
    (re.compile(r"\b(?:sk-(?:ant-|proj-|or-)?[A-Za-z0-9_-]{12,})"), MASK),
]


# Every pattern above needs one of these words (in any case) or a query parameter; text
# without any cannot match. Looked for as plain substrings: a case-insensitive regex
# alternation scans text several times slower, and evidence is most of what is scrubbed.
_CREDENTIAL_WORDS = ("://", "password", "authorization", "api-key", "sk-")
_QUERY_PARAMETER = re.compile(r"[?&;][\w.-]+=")
# Joins the texts of a table for one search: no word above contains it, so it can make no
# match of its own, and every match inside one text is still found.
_SEPARATOR = "\x00"


def register_secret(secret: str | None) -> None:
    """Remember a secret so that `scrub` removes it wherever it appears."""
    if secret and len(secret) >= 4:
        _known_secrets.add(secret)


def register_secrets(secrets: Iterable[str | None]) -> None:
    for secret in secrets:
        register_secret(secret)


def _may_hold_secret(text: str) -> bool:
    """Whether `text` holds a known secret or a mark some credential shape needs."""
    if any(secret in text for secret in _known_secrets):
        return True
    # casefold, not lower: the patterns ignore case as re does, where a long s (U+017F) is an "s".
    folded = text.casefold()
    if any(word in folded for word in _CREDENTIAL_WORDS):
        return True
    return ("?" in text or "&" in text or ";" in text) and _QUERY_PARAMETER.search(text) is not None


def scrub(text: str) -> str:
    """Return `text` with every known secret and credential-shaped value masked."""
    # Most text (evidence cells, above all) has none of the shapes: a few searches rule them all out.
    if not _may_hold_secret(text):
        return text
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_texts(texts: Sequence[str]) -> Sequence[str]:
    """`scrub` of each text; `texts` itself when none needs masking, which one pass over all
    of them settles (an evidence table's thousands of cells at once, not one by one)."""
    if not _may_hold_secret(_SEPARATOR.join(texts)):
        return texts
    return [scrub(text) for text in texts]


# Keys whose values are identifiers the code defines, never a secret: left alone, so that a
# password that is also a word (`postgres`, a common one) cannot turn the probe id
# `postgres.lock_contention` into one that no registry knows.
IDENTIFIER_KEYS = frozenset({"probe", "kind", "columns", "schema"})


def scrub_value(value: object) -> object:
    """Scrub strings inside JSON-like data (dicts, lists, scalars), but for identifiers."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: item if key in IDENTIFIER_KEYS else scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value
