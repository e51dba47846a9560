"""Stage fingerprints: what a stage's output depends on, as one sha256.

fingerprint(stage) = sha256 of the stage's name, its resolved config sections and the fingerprints
of the stages it reads; the corpus stage's also covers its input files. A change anywhere upstream
therefore changes every fingerprint downstream, and a stage reruns exactly when its inputs changed.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Any, Iterable

# bump when what a stage writes changes, so that old run folders rerun instead of being trusted
SCHEME = 1


def fingerprint(stage: str, sections: dict[str, Any], upstream: Iterable[str], extra: Any = None) -> str:
    """The fingerprint of `stage` from its sections (plain data), its inputs' fingerprints and `extra`."""
    payload = {"scheme": SCHEME, "stage": stage, "sections": sections, "upstream": list(upstream), "extra": extra}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def input_files(spec: str) -> list[str]:
    """The files a comma-separated list of globs or folders names (folders: the files directly in them)."""
    files: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if os.path.isdir(part):
            files += sorted(os.path.join(part, f) for f in os.listdir(part) if os.path.isfile(os.path.join(part, f)))
        else:
            files += sorted(glob.glob(part))
    return files


def files_fingerprint(paths: Iterable[str]) -> list[list[Any]]:
    """Name, size and content hash of each file: the identity of a user's input."""
    out = []
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out.append([os.path.abspath(path), os.path.getsize(path), digest.hexdigest()])
    return out
