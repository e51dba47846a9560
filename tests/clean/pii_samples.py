"""Generated personal data in running English and Chinese text, and look-alikes that are not.

`generate_items(n, seed)` gives n sentences, each with one planted positive of a known kind and
span, or one look-alike negative (order numbers, version strings, dates and times, 18-digit
numbers with a wrong check character, card numbers failing Luhn, ...). `score` measures a
finder's precision and recall per kind on them. Used by tests/clean/test_pii.py (floors) and
bench/bench_clean_pii.py (the table in docs/CLEAN.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import random
import string
from typing import NamedTuple

import phonenumbers

from fullchain.pipelines.clean.pii import CARD_SCHEMES, PII_KINDS, luhn_valid

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PROVINCES = "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split()

EN_TEMPLATES = [
    "Please contact {x} if you have any questions about the order.",
    "The form lists {x} as the value entered by the customer.",
    "In the log we found {x}, which was recorded at the start of the session.",
    "She wrote {x} on the back of the receipt and left.",
    "For reference: {x}.",
    "The ticket mentions ({x}) twice, once in the summary.",
]
ZH_TEMPLATES = [
    "如有问题请联系{x}，我们会尽快回复。",
    "表格中填写的是 {x} ，请核对。",
    "日志里记录了{x}，时间是昨天下午。",
    "他在收据背面写下了{x}然后离开了。",
    "参考信息：{x}。",
    "工单中两次提到（{x}），一次在摘要里。",
]


class Item(NamedTuple):
    """One generated sentence: the planted kind (None for a negative), its span, and what it is."""

    text: str
    kind: str | None
    start: int
    end: int
    what: str


def _id_check(body: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, _CN_ID_WEIGHTS)) % 11]


def _cn_id(rng: random.Random, valid: bool = True) -> str:
    born = datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 90))
    body = (rng.choice(_PROVINCES) + f"{rng.randrange(1, 100):02d}{rng.randrange(1, 100):02d}"
            + born.strftime("%Y%m%d") + f"{rng.randrange(0, 1000):03d}")
    check = _id_check(body)
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return body + check


def _card_digits(rng: random.Random, valid: bool = True) -> str:
    low, high, lengths = rng.choice(CARD_SCHEMES)
    prefix = str(rng.randint(int(low), int(high)))
    length = rng.choice(lengths)
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    digits = [body + d for d in string.digits]
    good = next(d for d in digits if luhn_valid(d))
    return good if valid else rng.choice([d for d in digits if d != good])


def _grouped(rng: random.Random, digits: str) -> str:
    if len(digits) == 16 and rng.random() < 0.5:
        sep = rng.choice(" -")
        return sep.join(digits[i:i + 4] for i in range(0, 16, 4))
    return digits


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.6:  # mainland China
        if rng.random() < 0.6:
            number = ""
            while not phonenumbers.is_valid_number(phonenumbers.parse(number or "10", "CN")):
                # a mobile number the numbering plan has allocated (libphonenumber's metadata)
                number = "1" + rng.choice("3578") + "".join(rng.choice(string.digits) for _ in range(9))
            return rng.choice([number, f"{number[:3]} {number[3:7]} {number[7:]}", f"{number[:3]}-{number[3:7]}-{number[7:]}",
                               f"+86 {number[:3]} {number[3:7]} {number[7:]}", f"+86-{number}"])
        area, local = rng.choice([("10", 8), ("21", 8), ("755", 8), ("571", 8), ("28", 8)])
        number = str(rng.randint(2, 8)) + "".join(rng.choice(string.digits) for _ in range(local - 1))
        return rng.choice([f"0{area}-{number}", f"(0{area}) {number[:4]} {number[4:]}", f"0{area} {number}"])
    region = rng.choice(["US", "GB", "DE", "FR", "JP", "AU", "IN", "BR"])
    example = phonenumbers.example_number_for_type(region, rng.choice(
        [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]))
    for _ in range(20):  # vary the subscriber digits while the number stays valid
        national = str(example.national_number)
        varied = national[:-4] + "".join(rng.choice(string.digits) for _ in range(4))
        candidate = phonenumbers.parse(f"+{example.country_code}{varied}")
        if phonenumbers.is_valid_number(candidate):
            example = candidate
            break
    style = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164])
    return phonenumbers.format_number(example, style)


def _email(rng: random.Random) -> str:
    name = rng.choice(["zhang.san", "li_si", "wang.wu88", "j.smith", "anna+news", "chen-lei", "m.garcia2020"])
    domain = rng.choice(["example.com", "mail.example.cn", "qq.com", "163.com", "uni.edu.cn", "example.co.uk",
                         "corp-mail.org"])
    return f"{name}@{domain}"


def _ipv4(rng: random.Random) -> str:
    return str(ipaddress.IPv4Address(rng.randrange(1 << 24, (223 << 24))))


def _ipv6(rng: random.Random) -> str:
    address = ipaddress.IPv6Address((0x2001 << 112) | rng.getrandbits(96) << rng.choice([0, 16, 32]))
    return rng.choice([address.compressed, address.exploded, "fe80::" + ":".join(
        f"{rng.randrange(1, 65536):x}" for _ in range(rng.randint(1, 4)))])


def _url_credentials(rng: random.Random) -> tuple[str, str]:
    user, password = rng.choice(["admin", "deploy", "bob", "ci-bot"]), rng.choice(["s3cret", "hunter2", "P@ss", "x9!k"])
    scheme = rng.choice(["https", "ftp", "postgres", "redis"])
    credentials = f"{user}:{password.replace('@', '%40')}"
    return f"{scheme}://{credentials}@{rng.choice(['db.example.com', 'example.org', 'git.example.cn'])}/data", credentials


POSITIVES = {
    "email": _email, "phone": _phone, "ipv4": _ipv4, "ipv6": _ipv6,
    "cn_id": _cn_id, "bank_card": lambda rng: _grouped(rng, _card_digits(rng)),
}


def _negative(rng: random.Random) -> tuple[str, str]:
    """A look-alike: (text, what it is)."""
    choice = rng.randrange(12)
    if choice == 0:
        return f"订单号 {rng.randint(10**13, 10**14 - 1)}", "order number"
    if choice == 1:
        return f"Order #{rng.randint(10**9, 10**12)}", "order number"
    if choice == 2:
        return f"version {rng.randint(1, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 9999)}", "version"
    if choice == 3:
        return f"v{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}", "version"
    if choice == 4:
        day = datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randrange(9000))
        return rng.choice([day.isoformat(), day.strftime("%Y/%m/%d"), day.strftime("%Y年%m月%d日")]), "date"
    if choice == 5:
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}", "time"
    if choice == 6:
        return _cn_id(rng, valid=False), "18 digits, wrong check character"
    if choice == 7:
        return _grouped(rng, _card_digits(rng, valid=False)), "card number failing Luhn"
    if choice == 8:
        return f"{rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}", \
            "dotted quad out of range"
    if choice == 9:
        return rng.choice(["std::vector<int>", "a::b::c", "Foo::bar()", "ratio 3:2:1"]), "colons"
    if choice == 10:
        return rng.choice(["https://example.com/path?a=1", "ftp://mirror.example.org/pub", "user@localhost",
                           "@handle_2024"]), "URL or @ without credentials"
    return f"ISBN 978-7-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}-{rng.randint(0, 9)}", "ISBN"


def generate_items(n: int, seed: int = 0, negative_share: float = 0.4) -> list[Item]:
    """`n` sentences, English and Chinese alternately, with a planted positive or a negative."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        template = rng.choice(EN_TEMPLATES if i % 2 == 0 else ZH_TEMPLATES)
        head, tail = template.split("{x}")
        if rng.random() < negative_share:
            value, what = _negative(rng)
            items.append(Item(head + value + tail, None, -1, -1, what))
            continue
        kind = PII_KINDS[i % len(PII_KINDS)]
        if kind == "url_credentials":
            url, credentials = _url_credentials(rng)
            start = len(head) + url.index(credentials)
            items.append(Item(head + url + tail, kind, start, start + len(credentials), kind))
        else:
            value = POSITIVES[kind](rng)
            items.append(Item(head + value + tail, kind, len(head), len(head) + len(value), kind))
    return items


def score(finder, items: list[Item]) -> dict[str, dict[str, float]]:
    """Per kind: tp, fp, fn, precision and recall of `finder` (text -> PiiMatch list) on `items`.
    A match is right when its kind is the planted one and its span overlaps the planted span."""
    counts = {kind: {"tp": 0, "fp": 0, "fn": 0} for kind in PII_KINDS}
    for item in items:
        hit = False
        for m in finder(item.text):
            if m.kind == item.kind and m.start < item.end and item.start < m.end:
                counts[m.kind]["tp"] += 1
                hit = True
            else:
                counts[m.kind]["fp"] += 1
        if item.kind is not None and not hit:
            counts[item.kind]["fn"] += 1
    for c in counts.values():
        c["precision"] = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        c["recall"] = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    return counts
