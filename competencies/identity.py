"""One person, one account: the canonical form of an email (docs/design.md, "Identity").

The rule: NFKC, case-folded (`str.casefold()`), NFKC again, the Turkic ı and
İ folded to i, surrounding spaces trimmed, the domain IDNA-encoded.

Every door compares this form and nothing else: sign-in and its lockout
counter, the importer, Django admin, invitations, `create_user`. It is what
`Employee.email` and `Invitation.email` store, and the database's unique
constraints hold it. Why each step:

- NFKC (as Django's `AbstractBaseUser.normalize_username` does) makes
  fullwidth `ｏｌｉｖｉａ`, the ligature `ﬁ` and a decomposed `é` the letters
  they are drawn as.
- `casefold()`, not `lower()`: `ſ` (long s), `ς` and the Kelvin sign fold
  to `s`, `σ` and `k`, as PostgreSQL's `UPPER()` and the `re.IGNORECASE` of
  Django's email validator already treat them.
- `casefold()` leaves the dotless `ı` alone and turns `İ` into `i` plus a
  combining dot; PostgreSQL's `UPPER()` and Django's validator take both for
  an `i`. They are folded to `i`, so `olıvia@…` is Olivia, not a second
  account beside her (the bug of issue 19).
- IDNA: `bücher.example` and `xn--bcher-kva.example` are one domain.

A canonical email passes Django's `validate_email`, whose local part is
ASCII, and its domain is IDNA-encoded: a canonical email is ASCII, lower case.
"""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_LENGTH = 254  # Employee.email and Invitation.email; RFC 3696 errata: a path holds 254 characters
# Longer input is refused before folding (NFKC may multiply a string's length by 18).
MAX_INPUT = 4 * MAX_LENGTH
_TURKIC_I = str.maketrans({"ı": "i"})
_DOTTED_I = "i\u0307"  # what casefold() makes of İ
# Addresses already in canonical form that pass every step below unchanged (ASCII lower case, a dot-atom
# local part, a domain of letters, digits and hyphens): the importer meets hundreds of thousands of them.
_PLAIN = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,63}\Z"
)


class InvalidEmail(ValueError):
    """Not an email address: `str(exc)` says why, in plain words."""


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    text = unicodedata.normalize("NFKC", text.casefold())
    return text.translate(_TURKIC_I).replace(_DOTTED_I, "i")


def _domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidEmail("the domain is not a valid domain name") from None


def canonical_email(value) -> str:
    """The one form of an email every door stores and compares; `InvalidEmail` when it is no email address."""
    if not isinstance(value, str):
        raise InvalidEmail("an email address must be text")
    if len(value) > MAX_INPUT:
        raise InvalidEmail(f"an email address has at most {MAX_LENGTH} characters")
    if len(value) <= MAX_LENGTH and _PLAIN.match(value):
        return value
    text = _fold(value)  # surrounding spaces, tabs and line breaks trimmed, as form fields do
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise InvalidEmail("an email address holds no control characters")
    if "@" not in text:
        raise InvalidEmail("an email address needs an @")
    local, domain = text.rsplit("@", 1)
    email = f"{local}@{_domain(domain)}"
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidEmail("not a valid email address") from None
    if len(email) > MAX_LENGTH:
        raise InvalidEmail(f"an email address has at most {MAX_LENGTH} characters")
    if not email.isascii():  # the validator's IGNORECASE matches a few more letters than the folding above removes
        raise InvalidEmail("not a valid email address")
    return email


def email_key(value) -> str:
    """What a sign-in attempt is counted under: the canonical email, or the folded text when it is none.

    Never raises, so any typed text has one counter, shared by all its
    spellings; the key holds no character a database refuses and fits
    django-axes' 255-character column.
    """
    text = value if isinstance(value, str) else ""
    try:
        return canonical_email(text)
    except InvalidEmail:
        pass
    folded = _fold(text[:MAX_INPUT])
    return "".join(c for c in folded if unicodedata.category(c) not in ("Cc", "Cs"))[:255]


def is_canonical(value: str) -> bool:
    """True when `value` is already the canonical form of an email."""
    try:
        return canonical_email(value) == value
    except InvalidEmail:
        return False
