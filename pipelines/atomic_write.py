"""Write a file so that no reader ever sees it half-written, on any Beam filesystem."""

from __future__ import annotations

import re
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


def temporary_name(name: str) -> re.Pattern:
    """The names `write_atomically` gives `name`'s temporary files (what a killed write leaves)."""
    return re.compile(rf"^\.{re.escape(name)}\.tmp-[0-9a-f]+$")


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` via a temporary `.NAME.tmp-RANDOM` in the same folder and a rename."""
    folder, name = path.rsplit("/", 1)
    temporary = FileSystems.join(folder, f".{name}.tmp-{uuid.uuid4().hex[:12]}")
    with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        fh.write(data)
    if "://" in path and FileSystems.exists(path):
        # an object store's rename is copy + delete and may refuse an existing destination;
        # a local rename replaces it atomically
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])
