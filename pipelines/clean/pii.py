"""Personal data in text: find it, then redact it with a typed placeholder, reject, or keep.

Kinds (PII_KINDS), each found by the most exact test available, so that look-alikes (order
numbers, version strings, dates, numbers with a wrong check digit) are not taken:
- url_credentials: `scheme://user:password@host`; only `user:password` is replaced;
- email: `local@domain.tld` with an ASCII local part and a letter TLD;
- phone: the `phonenumbers` library (libphonenumber's metadata), leniency VALID: numbers in
  international form (+CC ...) for any country, national numbers for `pii.phone_regions`
  (mainland-China mobile and landline by default);
- ipv4, ipv6: candidates checked by Python's `ipaddress`; a dotted quad right after "v" or a
  version word is a version string, not an address;
- cn_id: mainland-China resident ID, 17 digits and a check character (ISO 7064 MOD 11-2), a
  province code and a real birth date between 1900 and today;
- bank_card: 13-19 digits (plain or in groups of four), the number range and length of a card
  scheme (CARD_SCHEMES) and the Luhn check.
Spans of several kinds never overlap: the kinds are matched in PII_KINDS order and a later
kind's span inside an earlier one's is dropped (an ID number is not also a phone number).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import NamedTuple

import phonenumbers

PII_KINDS = ("url_credentials", "email", "cn_id", "bank_card", "ipv6", "ipv4", "phone")
REDACT, REJECT, KEEP = "redact", "reject", "keep"
POLICIES = (REDACT, REJECT, KEEP)
PLACEHOLDERS = {
    "url_credentials": "<CREDENTIALS>",
    "email": "<EMAIL>",
    "cn_id": "<CN_ID>",
    "bank_card": "<BANK_CARD>",
    "phone": "<PHONE>",
    "ipv6": "<IPV6>",
    "ipv4": "<IPV4>",
}
REASONS = tuple(f"pii_{kind}" for kind in PII_KINDS)

# Boundaries are ASCII classes, not \b or \w: in Chinese text a Han character (a \w) touches the item.
_URL_CREDENTIALS_RE = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://([^\s/?#@:]+:[^\s/?#@]*)@[A-Za-z0-9.-]")
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_CN_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_CARD_RE = re.compile(r"(?<![\d+-])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{5})(?![\d-])")
_IPV4_RE = re.compile(r"(?<![0-9A-Za-z_.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9A-Za-z_]|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![0-9A-Za-z_:])")
_DOTTED_QUAD_RE = re.compile(r"[(（]?\d{1,3}(?:\.\d{1,3}){3}[)）]?")
# A phone number has at least 7 digits; the matcher (slow, pure Python) runs only on text with such a run.
_PHONE_HINT_RE = re.compile(r"\d(?:[\s().-]{0,2}\d){6}")
_VERSION_BEFORE_RE = re.compile(r"(?:\b[vV]|version|release|ver\.?|版本|版本号)[\s:：]*$", re.IGNORECASE)
# An identifier label right before a number makes it an order/serial number, not a phone number.
_IDENTIFIER_BEFORE_RE = re.compile(r"(?:#|\bno\.?|order|invoice|serial|订单号?|单号|编号|序列号|发票号?)[\s:：#]*$",
                                   re.IGNORECASE)

# Issuer prefixes (inclusive ranges, compared on as many leading digits as they have) and lengths
# of the card schemes, from the schemes' published IIN ranges: Visa, Mastercard, American Express,
# UnionPay, Discover, JCB, Diners Club, Mir. A digit run outside them is an order or serial number.
CARD_SCHEMES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (13, 16, 19)),
    ("51", "55", (16,)), ("2221", "2720", (16,)),
    ("34", "34", (15,)), ("37", "37", (15,)),
    ("62", "62", (16, 17, 18, 19)),
    ("6011", "6011", (16, 19)), ("644", "649", (16, 19)), ("65", "65", (16, 19)),
    ("3528", "3589", (16, 17, 18, 19)),
    ("300", "305", (14, 16, 19)), ("36", "36", (14, 16, 19)), ("38", "39", (16, 19)),
    ("2200", "2204", (16, 17, 18, 19)),
)

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"
# first two digits: the provinces, autonomous regions and municipalities of GB/T 2260, plus 71/81/82/83
_CN_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)


class PiiMatch(NamedTuple):
    """One found item: its kind and the span [start, end) of `text` it covers."""

    kind: str
    start: int
    end: int


def cn_id_valid(number: str, today: datetime.date | None = None) -> bool:
    """Whether an 18-character string is a plausible mainland-China resident ID: province code,
    birth date (YYYYMMDD at 6..14) between 1900-01-01 and today, and the MOD 11-2 check character."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _CN_PROVINCES:
        return False
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not datetime.date(1900, 1, 1) <= born <= (today or datetime.date.today()):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _CN_ID_WEIGHTS))
    return _CN_ID_CHECK[total % 11] == number[17].upper()


def card_scheme_matches(digits: str) -> bool:
    """Whether a digit string has the issuer prefix and length of a card scheme in CARD_SCHEMES."""
    return any(low <= digits[:len(low)] <= high and len(digits) in lengths for low, high, lengths in CARD_SCHEMES)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class PiiFinder:
    """Finds the PII kinds in `kinds` in a text. Build once per worker: it compiles nothing
    itself, but phonenumbers loads its region metadata on first use."""

    def __init__(self, kinds: tuple[str, ...], phone_regions: tuple[str, ...]):
        self._kinds = [kind for kind in PII_KINDS if kind in kinds]
        self._phone_regions = phone_regions

    def __call__(self, text: str) -> list[PiiMatch]:
        """Non-overlapping matches in text order."""
        taken: list[PiiMatch] = []
        for kind in self._kinds:
            for start, end in getattr(self, f"_{kind}")(text):
                if not any(start < m.end and m.start < end for m in taken):
                    taken.append(PiiMatch(kind, start, end))
        return sorted(taken, key=lambda m: m.start)

    def _url_credentials(self, text: str):
        if "://" not in text:
            return
        for m in _URL_CREDENTIALS_RE.finditer(text):
            yield m.span(1)

    def _email(self, text: str):
        if "@" not in text:
            return
        for m in _EMAIL_RE.finditer(text):
            yield m.span()

    def _cn_id(self, text: str):
        for m in _CN_ID_RE.finditer(text):
            if cn_id_valid(m.group()):
                yield m.span()

    def _bank_card(self, text: str):
        for m in _CARD_RE.finditer(text):
            digits = re.sub(r"[ -]", "", m.group())
            if card_scheme_matches(digits) and luhn_valid(digits):
                yield m.span()

    def _phone(self, text: str):
        if _PHONE_HINT_RE.search(text) is None:
            return
        seen = set()
        for region in self._phone_regions:
            for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                if (m.start, m.end) in seen or _DOTTED_QUAD_RE.fullmatch(m.raw_string):
                    continue  # a dotted quad is an address or a version, even out of the address range
                before = text[max(0, m.start - 12):m.start]
                if _IDENTIFIER_BEFORE_RE.search(before) or _VERSION_BEFORE_RE.search(before):
                    continue
                seen.add((m.start, m.end))
                yield m.start, m.end

    def _ipv6(self, text: str):
        if "::" not in text and text.count(":") < 7:
            return
        for m in _IPV6_RE.finditer(text):
            candidate = m.group()
            if sum(c in "0123456789abcdefABCDEF" for c in candidate) < 4:
                continue  # "::", "::1", "a::b": scope operators and loopback, not someone's address
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            yield m.span()

    def _ipv4(self, text: str):
        if text.count(".") < 3:
            return
        for m in _IPV4_RE.finditer(text):
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            if _VERSION_BEFORE_RE.search(text, max(0, m.start() - 12), m.start()):
                continue
            yield m.span()


def redact(text: str, matches: list[PiiMatch], kinds: frozenset[str]) -> str:
    """`text` with the matches of `kinds` replaced by their placeholders."""
    parts, last = [], 0
    for m in matches:
        if m.kind in kinds:
            parts += [text[last:m.start], PLACEHOLDERS[m.kind]]
            last = m.end
    return "".join(parts) + text[last:]
