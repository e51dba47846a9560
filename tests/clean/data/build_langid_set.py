"""Build tests/clean/data/langid_registers.jsonl, real text of several registers and scripts for
measuring clean's language identification (docs/CLEAN.md, "Language identification on real text").

The text comes from Debian packages (bookworm), fetched with apt and unpacked, not installed:

    mkdir -p /tmp/langid-set && cd /tmp/langid-set
    apt-get download manpages-zh fortunes-zh manpages-ja manpages manpages-de manpages-fr manpages-es
    for f in *.deb; do dpkg-deb -x "$f" root; done
    python tests/clean/data/build_langid_set.py /tmp/langid-set/root tests/clean/data/langid_registers.jsonl

Man pages are rendered with groff (lines unwrapped) and cut into an excerpt of about
EXCERPT_CHARS characters that starts at the description section; a fortune or poem is one
document. The selection is a seeded sample, so rerunning the script rewrites the same file.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
import sys
from pathlib import Path

EXCERPT_CHARS = 400
SEED = 0
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_DESCRIPTION_HEADINGS = {"描述", "說明", "説明", "DESCRIPTION", "BESCHREIBUNG", "DESCRIPCIÓN"}

# register -> (package, path under the unpacked root, documents wanted)
MAN_REGISTERS = {
    "zh_simplified_technical": ("manpages-zh", "usr/share/man/zh_CN", 120),
    "zh_traditional_technical": ("manpages-zh", "usr/share/man/zh_TW", 120),
    "ja_technical": ("manpages-ja", "usr/share/man/ja", 30),
    "en_technical": ("manpages", "usr/share/man", 100),
    "de_technical": ("manpages-de", "usr/share/man/de", 30),
    "fr_technical": ("manpages-fr", "usr/share/man/fr", 30),
    "es_technical": ("manpages-es", "usr/share/man/es", 30),
}
FORTUNE_REGISTERS = {
    "zh_classical_poetry": ("fortunes-zh", ["usr/share/games/fortunes/tang300.u8",
                                            "usr/share/games/fortunes/song100.u8"], 200),
    "zh_simplified_prose": ("fortunes-zh", ["usr/share/games/fortunes/chinese.u8"], 100),
}


def render_man(path: Path) -> str:
    """The man page's text as groff renders it, one line per paragraph, header and footer dropped."""
    source = gzip.decompress(path.read_bytes())
    rendered = subprocess.run(["groff", "-k", "-man", "-Tutf8", "-rLL=100000n", "-P-cbou"], input=source,
                              capture_output=True, check=True).stdout.decode("utf-8", "replace")
    lines = [" ".join(line.split()) for line in rendered.splitlines()]
    return "\n".join(line for line in lines[1:-1] if line)


def excerpt(text: str) -> str | None:
    """About EXCERPT_CHARS characters of whole lines from the description section on, or None if too short."""
    lines = text.splitlines()
    # headings come alone or bilingual ("描述 DESCRIPTION")
    start = next((i for i, line in enumerate(lines) if line.split() and set(line.split()) <= _DESCRIPTION_HEADINGS),
                 0)
    kept, size = [], 0
    for line in lines[start + 1:]:
        kept.append(line)
        size += len(line) + 1
        if size >= EXCERPT_CHARS:
            return "\n".join(kept)[: EXCERPT_CHARS + 100]
    return None


def man_documents(root: Path, register: str, package: str, folder: str, wanted: int, rng: random.Random):
    pages = sorted(p for p in (root / folder).glob("man[1-8]/*.gz"))
    rng.shuffle(pages)
    out = []
    for page in pages:
        text = excerpt(render_man(page))
        if text is not None:
            out.append({"id": f"{register}/{page.name}", "register": register, "source": package, "text": text})
        if len(out) == wanted:
            break
    return out


def fortune_documents(root: Path, register: str, package: str, files: list[str], wanted: int,
                      rng: random.Random):
    entries = []
    for name in files:
        for i, entry in enumerate(_ANSI_RE.sub("", (root / name).read_text("utf-8")).split("\n%\n")):
            # a poem's title and author lines are modern annotation, not the poem
            lines = [line.strip() for line in entry.strip().splitlines() if line.strip()]
            if register == "zh_classical_poetry":
                lines = [line for line in lines if not line.startswith(("《", "作者", "题目"))]
            text = "\n".join(lines)
            if len(text) >= 10:
                entries.append({"id": f"{register}/{Path(name).stem}/{i}", "register": register,
                                "source": package, "text": text})
    return sorted(rng.sample(entries, wanted), key=lambda doc: doc["id"])


def main(root: str, output: str) -> None:
    rng = random.Random(SEED)
    docs = []
    for register, (package, folder, wanted) in MAN_REGISTERS.items():
        docs += man_documents(Path(root), register, package, folder, wanted, rng)
    for register, (package, files, wanted) in FORTUNE_REGISTERS.items():
        docs += fortune_documents(Path(root), register, package, files, wanted, rng)
    with open(output, "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    print(f"{len(docs)} documents -> {output}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
