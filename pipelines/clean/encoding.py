"""Turning input bytes into text, recognising binary data, and repairing mojibake.

`decode_bytes` is what the file readers call before JSON parsing; `repair_mojibake` and
`binary_note` are applied by the cleaner to text that arrived already decoded.
"""

from __future__ import annotations

import re

BAD_ENCODING = "bad_encoding"

# git's test for binary content: a NUL byte among the first 8000 bytes.
GIT_BINARY_PROBE_BYTES = 8000

_UTF8_BOM = b"\xef\xbb\xbf"
# Characters that do not occur in text: C0 controls except \t \n \v \f \r, DEL, and U+FFFD
# (what an earlier decoder left where it could not decode).
_GARBAGE_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f\ufffd]")
# `surrogateescape` decodes each undecodable byte to one lone surrogate U+DC80..U+DCFF,
# which gives an exact count of bad bytes in a single C-level decode.
_ESCAPED_BYTE_RE = re.compile("[\udc80-\udcff]")
_HIGH_BYTES = bytes(range(0x80, 0x100))
# Western European cp1252 text is mostly ASCII; GBK, Shift-JIS, UTF-16 and binary data are not.
_CP1252_MAX_NON_ASCII_SHARE = 0.3


def garbage_fraction(text: str) -> float:
    """Share of characters in `text` that never occur in real text: C0 controls other than
    whitespace, DEL and U+FFFD replacement characters."""
    if not text:
        return 0.0
    return len(_GARBAGE_RE.findall(text)) / len(text)


def binary_note(text: str, max_control_fraction: float) -> str | None:
    """A short note saying why `text` looks like binary data, or None if it looks like text."""
    fraction = garbage_fraction(text)
    if fraction > max_control_fraction:
        return f"binary: {fraction:.2%} control/replacement characters > {max_control_fraction:.2%}"
    return None


def first_lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate (U+D800..U+DFFF) in `text`, or None when `text` is valid
    Unicode that UTF-8 can encode. Such characters come from JSON escapes like "\\ud800" and make
    every later write of the text (Parquet, tar shards, tokenizers) fail."""
    if text.isascii():
        return None
    try:
        # One C-level encode is several times faster than a regex scan for the same answer.
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


def _looks_like_cp1252(data: bytes, bad_utf8_bytes: int) -> bool:
    non_ascii = len(data) - len(data.translate(None, _HIGH_BYTES))
    # Where most high bytes form valid UTF-8 sequences the input is damaged UTF-8, and reading
    # it as cp1252 would turn every correct character into mojibake.
    if non_ascii - bad_utf8_bytes >= bad_utf8_bytes:
        return False
    if non_ascii > _CP1252_MAX_NON_ASCII_SHARE * len(data):
        return False
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def decode_bytes(
    raw: bytes,
    *,
    max_bad_byte_fraction: float = 0.01,
    max_control_fraction: float = 0.01,
) -> tuple[str | None, str]:
    """Decode `raw` to text, returning (text, note) or (None, why) for the caller to reject as
    `bad_encoding`. Never raises.

    Tried in order: strict UTF-8 (a leading BOM stripped); cp1252 when the bytes decode as such
    and look like Western text; UTF-8 with U+FFFD for at most `max_bad_byte_fraction` of the
    bytes. Binary data (a NUL byte in the first 8000 bytes, or more than `max_control_fraction`
    control characters) is refused whatever the encoding.
    """
    data = bytes(raw)
    if b"\x00" in data[:GIT_BINARY_PROBE_BYTES]:
        return None, f"binary: NUL byte in the first {GIT_BINARY_PROBE_BYTES} bytes"
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        text = data.decode("utf-8")
        probe, note = text, "utf-8"
    except UnicodeDecodeError:
        probe = data.decode("utf-8", "surrogateescape")
        bad_bytes = len(_ESCAPED_BYTE_RE.findall(probe))
        if _looks_like_cp1252(data, bad_bytes):
            text = data.decode("cp1252")
            probe, note = text, "cp1252"
        elif bad_bytes <= max_bad_byte_fraction * len(data):
            text = _ESCAPED_BYTE_RE.sub("\ufffd", probe)
            note = f"utf-8 with {bad_bytes} undecodable bytes replaced"
        else:
            share = bad_bytes / len(data)
            return None, f"undecodable: {share:.2%} of bytes are not UTF-8 > {max_bad_byte_fraction:.2%}"
    # The replaced path is probed before U+FFFD insertion: its bad bytes were already bounded above.
    binary = binary_note(probe, max_control_fraction)
    if binary is not None:
        return None, binary
    return text, note


def _mojibake_tables() -> tuple[dict[str, int], re.Pattern[str], re.Pattern[str]]:
    # The byte each character stands for when UTF-8 bytes were decoded as cp1252 or latin-1.
    # latin-1 maps 0x80-0x9f to C1 controls, which is how cp1252's five undefined bytes survive.
    byte_of: dict[str, int] = {}
    for byte in range(0x80, 0x100):
        byte_of[chr(byte)] = byte
        try:
            byte_of[bytes([byte]).decode("cp1252")] = byte
        except UnicodeDecodeError:
            pass

    def chars(low: int, high: int) -> str:
        return "".join(re.escape(char) for char, byte in byte_of.items() if low <= byte <= high)

    cont, lead2, lead3, lead4 = chars(0x80, 0xBF), chars(0xC2, 0xDF), chars(0xE0, 0xEF), chars(0xF0, 0xF4)
    sequence = f"[{lead2}][{cont}]|[{lead3}][{cont}]{{2}}|[{lead4}][{cont}]{{3}}"
    return byte_of, re.compile(sequence), re.compile(f"(?:{sequence})+")


_BYTE_OF, _MOJIBAKE_SEQUENCE_RE, _MOJIBAKE_RUN_RE = _mojibake_tables()
# A lone encoded character is repaired only after these leads (Â Ã Ä Å: U+0080-U+017F, â: the
# punctuation block with ’ “ ” – — …), which make up nearly all real mojibake. Other leads are
# accented capitals that real text puts before ” … » often enough (e.g. "é…»" is valid UTF-8 for
# a Han character), so they are only trusted inside runs of two or more encoded characters.
_SINGLE_CHARACTER_LEADS = frozenset("ÂÃÄÅâ")


def _repair_run(match: re.Match[str]) -> str:
    run = match.group()
    try:
        decoded = bytes(_BYTE_OF[char] for char in run).decode("utf-8")
    except UnicodeDecodeError:
        return run
    if len(decoded) < 2 and run[0] not in _SINGLE_CHARACTER_LEADS:
        return run
    return decoded


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text having been decoded as cp1252 or latin-1 ("cafÃ©" -> "café",
    "â€™" -> "’", "ä¸­æ–‡" -> "中文"), up to twice for doubly encoded text.

    Conservative: a span changes only when its characters map back to bytes that are valid
    UTF-8, and a pass is kept only if it reduces the number of mojibake sequences.
    """
    if text.isascii():
        return text
    for _ in range(2):
        before = len(_MOJIBAKE_SEQUENCE_RE.findall(text))
        if before == 0:
            break
        repaired = _MOJIBAKE_RUN_RE.sub(_repair_run, text)
        if len(_MOJIBAKE_SEQUENCE_RE.findall(repaired)) >= before:
            break
        text = repaired
    return text
