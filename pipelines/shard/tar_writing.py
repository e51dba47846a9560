"""Shards as tar bytes, identical on every run: fixed mtime, owner and mode, members sorted by key."""

from __future__ import annotations

import io
import tarfile
from typing import Iterable

from fullchain.pipelines.shard.samples import Sample

_MODE = 0o444


def shard_bytes(samples: Iterable[Sample]) -> bytes:
    """A tar holding every member of `samples` as `KEY.EXT`, ordered by key then extension, so a
    sample's files are adjacent (which WebDataset needs) and reruns give the same bytes."""
    buffer = io.BytesIO()
    # ustar has no timestamps beyond mtime; PAX would only add headers for long or non-ASCII
    # names, which sample keys never are.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in sorted(samples, key=lambda s: s.key):
            for ext, data in sorted(sample.members):
                info = tarfile.TarInfo(f"{sample.key}.{ext}")
                info.size = len(data)
                info.mtime = 0
                info.mode = _MODE
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
