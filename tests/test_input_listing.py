"""Listing a local input: what Beam's own listing drops silently (symlink loops, broken links,
unreadable folders) is an error naming it, and only regular files reach the reader (a FIFO would
block it forever)."""

from __future__ import annotations

import logging
import os

import pytest

from fullchain.cli import main
from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.input_files import is_glob, resolve_input


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jsonl").write_text('{"text": "a"}\n')
    (folder / "sub" / "b.jsonl").write_text('{"text": "b"}\n')
    return folder


def test_a_symlink_loop_is_reported_not_skipped(corpus):
    os.symlink("loop.jsonl", corpus / "loop.jsonl")
    for spec in (str(corpus), f"{corpus}/*.jsonl", f"{corpus}/loop.jsonl"):
        with pytest.raises(ConfigError, match=f"{corpus / 'loop.jsonl'}: symlink loop"):
            resolve_input(spec)
    os.symlink(corpus / "self", corpus / "self")
    with pytest.raises(ConfigError, match="self: symlink loop"):
        resolve_input(str(corpus / "self"))


def test_a_broken_symlink_is_reported(corpus):
    os.symlink("gone.jsonl", corpus / "c.jsonl")
    with pytest.raises(ConfigError, match=f"{corpus / 'c.jsonl'} is a broken symlink \\(to gone.jsonl\\)"):
        resolve_input(str(corpus))


def test_a_fifo_is_not_given_to_the_reader(corpus, caplog):
    os.mkfifo(corpus / "stream.jsonl")
    with caplog.at_level(logging.WARNING):
        resolved = resolve_input(str(corpus))
    assert [f.key for f in resolved.files] == ["a.jsonl"]
    assert f"skipping {corpus / 'stream.jsonl'}: not a regular file but a FIFO" in caplog.text
    assert [f.key for f in resolve_input(f"{corpus}/**.jsonl").files] == ["a.jsonl", "sub/b.jsonl"]
    with pytest.raises(ConfigError, match="is not a regular file but a FIFO"):
        resolve_input(str(corpus / "stream.jsonl"))


def test_a_named_fifo_fails_fast_on_the_command_line(corpus, tmp_path, capsys):
    os.mkfifo(corpus / "stream.jsonl")
    assert main(["clean", "--input", str(corpus / "stream.jsonl"), "--output", str(tmp_path / "out")]) == 2
    assert "is not a regular file but a FIFO" in capsys.readouterr().err


def deny(monkeypatch, folder):
    """Make listing `folder` fail as it does for a user without read permission (tests run as root here)."""
    real = os.scandir

    def scandir(path="."):
        if os.path.abspath(path) == str(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_folder_says_so(corpus, monkeypatch):
    deny(monkeypatch, corpus)
    for spec in (str(corpus), f"{corpus}/*.jsonl"):
        with pytest.raises(ConfigError, match=f"folder {corpus} is not readable: permission denied"):
            resolve_input(spec)


def test_an_unreadable_subfolder_a_glob_reaches_says_so(corpus, monkeypatch):
    deny(monkeypatch, corpus / "sub")
    assert [f.key for f in resolve_input(f"{corpus}/*.jsonl").files] == ["a.jsonl"]  # not reached: fine
    with pytest.raises(ConfigError, match=f"folder {corpus / 'sub'} is not readable"):
        resolve_input(f"{corpus}/*/*.jsonl")


def test_globs_are_told_from_named_paths():
    assert [is_glob(p) for p in ("a/b/*.jsonl", "c/d", "e.jsonl", "x/y?/z.txt", "[ab].jsonl")] == [
        True, False, False, True, True]
