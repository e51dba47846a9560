import random

import pytest

from fullchain.pipelines.clean.encoding import binary_note, decode_bytes, garbage_fraction, repair_mojibake
from .samples import CHINESE, ENGLISH


def test_utf8_is_decoded_and_bom_stripped():
    assert decode_bytes(("\ufeff" + CHINESE).encode("utf-8")) == (CHINESE, "utf-8")
    assert decode_bytes(ENGLISH.encode("utf-8")) == (ENGLISH, "utf-8")
    assert decode_bytes(b"") == ("", "utf-8")


def test_cp1252_bytes_are_decoded_as_cp1252():
    text = "Café au lait, déjà vu – “quoted” and naïve façade. " * 5
    decoded, note = decode_bytes(text.encode("cp1252"))
    assert decoded == text
    assert note == "cp1252"


def test_ascii_with_bytes_cp1252_lacks_is_not_cp1252():
    raw = bytearray(ENGLISH.replace("é", "e").encode("ascii"))
    for i in range(0, len(raw), 20):
        raw[i] = 0x81  # undefined in cp1252
    text, note = decode_bytes(bytes(raw))
    assert text is None and note.startswith("undecodable")


def test_utf8_with_a_few_bad_bytes_is_kept_with_replacements():
    raw = CHINESE.encode("utf-8") + b"\xff"
    decoded, note = decode_bytes(raw)
    assert decoded == CHINESE + "\ufffd"
    assert "1 undecodable" in note


def test_truncated_utf8_is_not_mistaken_for_cp1252():
    # Mostly valid multi-byte UTF-8 with one broken sequence: reading it as cp1252 would garble every é.
    raw = ("é" * 200).encode("utf-8") + b"\xc3"
    decoded, _ = decode_bytes(raw)
    assert decoded == "é" * 200 + "\ufffd"


def test_other_encodings_and_heavily_damaged_utf8_are_refused():
    text, note = decode_bytes(CHINESE.encode("gbk"))
    assert text is None and note.startswith("undecodable")
    damaged = bytearray(CHINESE.encode("utf-8"))
    for i in range(0, len(damaged), 20):
        damaged[i] = 0xFF
    text, note = decode_bytes(bytes(damaged), max_bad_byte_fraction=0.01)
    assert text is None
    assert decode_bytes(bytes(damaged), max_bad_byte_fraction=0.20)[0] is not None


def test_binary_data_is_refused():
    assert decode_bytes(b"PK\x03\x04\x00\x00 zip header")[0] is None
    assert decode_bytes("hello".encode("utf-16"))[0] is None
    controls = b"text " + bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 10
    text, note = decode_bytes(controls)
    assert text is None and note.startswith("binary")


@pytest.mark.parametrize("seed", range(5))
def test_decode_never_raises_on_random_bytes(seed):
    rng = random.Random(seed)
    for _ in range(400):
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        text, note = decode_bytes(raw)
        assert text is None or isinstance(text, str)
        assert isinstance(note, str) and note


def test_decode_accepts_bytes_like_objects():
    assert decode_bytes(bytearray(b"abc"))[0] == "abc"
    assert decode_bytes(memoryview(b"abc"))[0] == "abc"


def test_garbage_fraction_counts_controls_and_replacement_characters_only():
    assert garbage_fraction("plain text\twith\nwhitespace\r\n") == 0.0
    assert garbage_fraction("ab\x00\ufffd") == 0.5
    assert binary_note("x" * 99 + "\x07", 0.01) is None
    assert binary_note("x" * 98 + "\x07\x07", 0.01) is not None


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("cafÃ©", "café"),
        ("itâ€™s", "it’s"),
        ("â€œquotedâ€\x9d", "“quoted”"),
        ("ä¸\xadæ–‡", "中文"),
        ("ÃƒÂ©tÃƒÂ©", "été"),  # encoded twice
        ("ÐŸÑ€Ð¸Ð²ÐµÑ‚", "Привет"),
    ],
)
def test_mojibake_is_repaired(broken, fixed):
    assert repair_mojibake(f"Le {broken} est ici.") == f"Le {fixed} est ici."


@pytest.mark.parametrize(
    "correct",
    ["naïve déjà vu", "«café…»", "CAFÉ—BAR", "SÃO PAULO", "Ã", ENGLISH, CHINESE, "plain ascii"],
)
def test_correct_text_is_left_alone(correct):
    assert repair_mojibake(correct) == correct
