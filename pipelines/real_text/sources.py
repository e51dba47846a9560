"""The real texts of the default corpus, read as passages (paragraphs of prose) per source.

English: the Jargon File 4.4.7 (public domain; committed as texts/jargon-4.4.7.txt.gz, as Debian's
jargon-text ships it) and Python's own documentation topics (pydoc_data, shipped with every
Python; PSF licence). Chinese: Debian's fortunes-zh (modern prose, Tang and Song poems; GPL-3.0+),
found where the Makefile unpacked it (`make real-text`: `apt-get download` + `dpkg-deb -x` into
the venv, no root needed) or where apt installed it. docs/CORPUS.md lists them all.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Callable

# fortune files of fortunes-zh: `chinese` is modern prose (quotes, essays, the Debian code of
# conduct), tang300 and song100 the classical anthologies
FORTUNE_FILES = ("chinese", "tang300", "song100")
FORTUNE_DIR = os.path.join("usr", "share", "games", "fortunes")
UNPACKED_DEBS = "fullchain-real-text"  # under sys.prefix/share: where `make real-text` unpacks the .debs
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CROSS_REFERENCE = re.compile(r"\{([^{}]*)\}")
_MIN_PASSAGE_CHARS = {"en": 60, "zh": 16}


@dataclass(frozen=True)
class Source:
    """One real text: where it comes from, its licence, its language and its passages."""

    name: str
    lang: str
    licence: str
    origin: str
    passages: list[str]

    @property
    def chars(self) -> int:
        return sum(len(p) for p in self.passages)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each unwrapped onto one line."""
    return [" ".join(line.strip() for line in block.splitlines()).strip()
            for block in re.split(r"\n\s*\n", text) if block.strip()]


def jargon_file() -> Source:
    """The Jargon File's entries and essays as paragraphs (headings and the contents table dropped)."""
    with resources.files("fullchain.pipelines.real_text").joinpath("texts/jargon-4.4.7.txt.gz").open("rb") as raw:
        text = gzip.decompress(raw.read()).decode("utf-8")
    # {word} is the File's cross-reference markup (a link in its HTML form): the word stays, the
    # braces go, or every entry would read as code to C4's curly-bracket rule.
    # An entry's heading (":word: n.") is a paragraph of its own; it stays as the start of its text.
    passages = [_CROSS_REFERENCE.sub(r"\1", p) for p in _paragraphs(text) if len(p) >= _MIN_PASSAGE_CHARS["en"]]
    return Source("jargon-file-4.4.7", "en", "public domain", "texts/jargon-4.4.7.txt.gz (Debian jargon-text)",
                  passages)


def python_docs() -> Source:
    """The topics of Python's built-in help (the language reference in prose) as paragraphs."""
    from pydoc_data.topics import topics

    passages = []
    for name in sorted(topics):
        # code examples and grammar rules are indented; the prose is not
        prose = "\n".join(line for line in topics[name].splitlines() if not line.startswith(" "))
        passages += [p for p in _paragraphs(prose) if len(p) >= _MIN_PASSAGE_CHARS["en"]]
    return Source(f"python-{sys.version_info.major}.{sys.version_info.minor}-docs", "en", "PSF-2.0",
                  "pydoc_data.topics (shipped with Python)", passages)


def fortune_dirs() -> list[str]:
    """Where fortunes-zh's files may be: unpacked by `make real-text`, or installed by apt."""
    return [os.path.join(sys.prefix, "share", UNPACKED_DEBS, FORTUNE_DIR), os.path.join(os.sep, FORTUNE_DIR)]


def fortunes_zh(name: str) -> Source | None:
    """One fortune file of fortunes-zh as passages (a fortune each, colour codes removed); None when
    the package is on neither path of `fortune_dirs`."""
    for folder in fortune_dirs():
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = _ANSI.sub("", fh.read())
            passages = []
            for fortune in text.split("\n%\n"):
                lines = [line.strip() for line in fortune.splitlines() if line.strip()]
                # the attribution line ("-- author") is kept: it is part of the text as printed
                joined = "\n".join(lines)
                if len(joined) >= _MIN_PASSAGE_CHARS["zh"]:
                    passages.append(joined)
            return Source(f"fortunes-zh-{name}", "zh", "GPL-3.0+ (classical poems themselves public domain)",
                          path, passages)
    return None


SOURCES: dict[str, Callable[[], Source | None]] = {
    "jargon-file": jargon_file,
    "python-docs": python_docs,
    **{f"fortunes-zh-{name}": (lambda name=name: fortunes_zh(name)) for name in FORTUNE_FILES},
}


def available_sources() -> tuple[list[Source], list[str]]:
    """Every source found on this machine, and one line for each that is missing."""
    found, missing = [], []
    for key, read in SOURCES.items():
        source = read()
        if source is None:
            missing.append(f"{key}: not found in {' or '.join(fortune_dirs())} (run `make real-text`)")
        else:
            found.append(source)
    return found, missing
