"""Optional API keys: `Authorization: Bearer KEY` checked against the keys of a file (one per line;
blank lines and lines starting with '#' are skipped) and of $FULLCHAIN_OPENAI_API_KEYS (separated by
commas or whitespace). No keys configured: every request is let in. A key is never taken on the
command line, where `ps` would show it, and never written to a log.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Mapping

API_KEYS_ENV = "FULLCHAIN_OPENAI_API_KEYS"
_KEY = re.compile(r"[\x21-\x7e]{8,512}")  # printable ASCII without spaces: a header value as sent


class ApiKeyError(ValueError):
    """A key file or variable that cannot be used; the message names where, never the key."""


class ApiKeys:
    """The accepted keys; `allows(header)` checks an Authorization header value in constant time."""

    def __init__(self, keys: list[str], sources: list[str]):
        self._keys = [k.encode("ascii") for k in keys]
        self.sources = sources

    @property
    def required(self) -> bool:
        """Whether requests need a key at all."""
        return bool(self._keys)

    def allows(self, authorization: str | None) -> bool:
        """True when no key is configured, or `authorization` is `Bearer <an accepted key>`."""
        if not self._keys:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        given_bytes = given.strip().encode("utf-8", errors="replace")
        # compare against every key, so the time taken says nothing about which one nearly matched
        return sum(hmac.compare_digest(given_bytes, key) for key in self._keys) > 0

    def __repr__(self) -> str:  # never the keys, should this object reach a log line
        return f"ApiKeys({len(self._keys)} keys from {', '.join(self.sources) or 'nowhere'})"


def _checked(keys: list[str], where: str) -> list[str]:
    for number, key in enumerate(keys, 1):
        if not _KEY.fullmatch(key):
            raise ApiKeyError(f"key {number} in {where} must be 8-512 printable ASCII characters without spaces")
    return keys


def load_api_keys(key_file: str, environ: Mapping[str, str]) -> ApiKeys:
    """The keys of `key_file` (when given; it must not be readable by others) and of $API_KEYS_ENV."""
    keys, sources = [], []
    if key_file:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ApiKeyError(f"API key file {path} does not exist")
        if path.stat().st_mode & 0o077:
            raise ApiKeyError(f"API key file {path} is readable or writable by others; chmod 600 it")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        found = _checked([line for line in lines if line and not line.startswith("#")], str(path))
        if not found:
            raise ApiKeyError(f"API key file {path} holds no key")
        keys += found
        sources.append(str(path))
    if environ.get(API_KEYS_ENV, "").strip():
        keys += _checked(re.split(r"[\s,]+", environ[API_KEYS_ENV].strip()), f"${API_KEYS_ENV}")
        sources.append(f"${API_KEYS_ENV}")
    return ApiKeys(keys, sources)
