"""PII: the checks, precision and recall per kind on generated text, and the cleaner's policies."""

import datetime

import pytest

from fullchain.pipelines.clean.cleaner import REJECTION_REASONS, DocumentCleaner, metric_counts
from fullchain.pipelines.clean.config import CleanConfig, LangIdConfig, PiiConfig
from fullchain.pipelines.clean.pii import (
    PII_KINDS, PiiFinder, card_scheme_matches, cn_id_valid, luhn_valid, redact,
)
from fullchain.pipelines.document import Document, Rejected
from .pii_samples import generate_items, score
from .samples import ENGLISH

CHECKSUM_KINDS = ("cn_id", "bank_card")


@pytest.fixture(scope="module")
def finder():
    return PiiFinder(PII_KINDS, ("CN",))


def test_resident_id_check_character_province_and_date():
    assert cn_id_valid("11010519491231002X")  # the standard's example
    assert not cn_id_valid("110105194912310021")  # wrong check character
    assert not cn_id_valid("99010519491231002X")  # no province 99
    assert not cn_id_valid("110105199902300011")  # 30 February
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    body = "110105" + tomorrow.strftime("%Y%m%d") + "001"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    unborn = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    assert not cn_id_valid(unborn) and cn_id_valid(unborn, today=tomorrow)


def test_luhn_and_card_schemes():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert card_scheme_matches("4111111111111111") and card_scheme_matches("6222020200112233445")
    assert not card_scheme_matches("1111111111111117")  # no scheme starts with 1
    assert not card_scheme_matches("411111111111111")  # Visa has no 15-digit numbers


def test_each_kind_in_english_and_chinese_text(finder):
    text = ("请联系zhang.san@example.com或拨打13812345678，身份证11010519491231002X，卡号 4111 1111 1111 1111，"
            "服务器 192.168.1.10 与 2001:db8::1，仓库 https://bob:s3cret@example.org/x 。"
            "Call +44 20 7946 0958 or (021) 6234 5678.")
    found = [(m.kind, text[m.start:m.end]) for m in finder(text)]
    assert found == [
        ("email", "zhang.san@example.com"), ("phone", "13812345678"), ("cn_id", "11010519491231002X"),
        ("bank_card", "4111 1111 1111 1111"), ("ipv4", "192.168.1.10"), ("ipv6", "2001:db8::1"),
        ("url_credentials", "bob:s3cret"), ("phone", "+44 20 7946 0958"), ("phone", "(021) 6234 5678"),
    ]


def test_look_alikes_are_not_personal_data(finder):
    text = ("订单号 20231105123456 已发货。Order #15245288098 shipped. version 1.2.3.4, v2.10.3, 版本 10.0.19041.1. "
            "2023-11-05 12:30:45. ID 110105194912310021. Card 4111111111111112. 256.1.1.1 std::vector a::b "
            "https://example.com/a?b=1 user@localhost ISBN 978-7-111-54742-6")
    assert [(m.kind, text[m.start:m.end]) for m in finder(text)] == []


def test_precision_and_recall_per_kind_on_generated_text(finder):
    # 2,100 sentences, half English half Chinese, 40% look-alike negatives (docs/CLEAN.md has the table)
    result = score(finder, generate_items(2100, seed=0))
    for kind, counts in result.items():
        floor = 0.98 if kind in CHECKSUM_KINDS else 0.95
        assert counts["tp"] + counts["fn"] >= 150, kind
        assert counts["precision"] >= floor and counts["recall"] >= floor, (kind, counts)


def test_redaction_replaces_only_the_redacted_kinds(finder):
    text = "mail a@example.com from 10.0.0.1"
    matches = finder(text)
    assert redact(text, matches, frozenset(PII_KINDS)) == "mail <EMAIL> from <IPV4>"
    assert redact(text, matches, frozenset({"ipv4"})) == "mail a@example.com from <IPV4>"


def _config(**pii) -> CleanConfig:
    # language identification plays no part here, and loading its profiles is most of a cleaner's start-up
    return CleanConfig(pii=PiiConfig(**pii), langid=LangIdConfig(enabled=False))


def _document(extra: str) -> Document:
    return Document(id="d", text=ENGLISH + "\nWrite to jane.doe@example.com or call +1 650-253-0000 today.\n" + extra)


def test_cleaner_redacts_by_default_and_counts_per_kind():
    result = DocumentCleaner(_config())(_document("The server is 192.168.10.20 in the rack."))
    assert isinstance(result, Document), result
    assert "<EMAIL>" in result.text and "<PHONE>" in result.text and "<IPV4>" in result.text
    assert "jane.doe" not in result.text and "192.168" not in result.text
    assert result.meta["pii"] == {"email": 1, "ipv4": 1, "phone": 1}
    assert metric_counts(result)["pii_found_email"] == 1


def test_reject_and_keep_policies():
    cfg = _config(email="reject", phone="keep")
    original = _document("")
    rejected = DocumentCleaner(cfg)(original)
    assert isinstance(rejected, Rejected) and rejected.reason == "pii_email"
    assert "jane.doe" not in rejected.detail and rejected.doc.text == original.text
    assert rejected.doc.meta["pii"] == {"email": 1, "phone": 1}
    kept = DocumentCleaner(_config(email="keep", phone="keep"))(original)
    assert isinstance(kept, Document) and "jane.doe@example.com" in kept.text and "+1 650-253-0000" in kept.text
    assert kept.meta["pii"] == {"email": 1, "phone": 1}
    off = DocumentCleaner(_config(enabled=False))(original)
    assert "pii" not in off.meta and "jane.doe@example.com" in off.text
    assert {f"pii_{kind}" for kind in PII_KINDS} <= set(REJECTION_REASONS)


def test_bad_pii_config_fails_in_one_line(tmp_path):
    from fullchain.pipelines.config import ConfigError, load_config

    with pytest.raises(ValueError, match=r"^email must be one of redact, reject, keep, got 'hide'$"):
        PiiConfig(email="hide")
    with pytest.raises(ValueError, match=r"^phone_regions entries must be region codes"):
        PiiConfig(phone_regions=["XX"])
    path = tmp_path / "clean.yaml"
    path.write_text("pii:\n  passport: redact\n")
    with pytest.raises(ConfigError) as err:
        load_config(CleanConfig, str(path))
    assert "passport" in str(err.value) and "\n" not in str(err.value)
