"""One document as a WebDataset sample: its key and the bytes of its `.txt`, `.json` and `.ids.npy` members."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from fullchain.pipelines.document import Document
from fullchain.pipelines.shard.assignment import sample_key
from fullchain.pipelines.shard.format import HEADER_MEMBER, IDS_MEMBER, TEXT_MEMBER

UINT16_VOCAB_LIMIT = 65535
TAR_BLOCK = 512


@dataclass(frozen=True, slots=True)
class Sample:
    """A tokenized document ready for a shard: key, member bytes by extension, token count."""

    key: str
    members: tuple[tuple[str, bytes], ...]
    tokens: int

    @property
    def size(self) -> int:
        """Bytes the sample takes in a tar: per member a 512-byte header plus data padded to 512."""
        return sum(TAR_BLOCK + -(-len(data) // TAR_BLOCK) * TAR_BLOCK for _, data in self.members)


def token_dtype(vocab_size: int) -> str:
    """`uint16` when every id fits (vocab_size <= 65535), else `int32`."""
    return "uint16" if vocab_size <= UINT16_VOCAB_LIMIT else "int32"


def encode_sample(doc: Document, token_ids: list[int], dtype: str) -> Sample:
    """The sample of `doc` with its token ids (EOS already appended when wanted)."""
    header = {"id": doc.id, "lang": doc.lang, "source": doc.source, "meta": doc.meta}
    npy = io.BytesIO()
    np.save(npy, np.asarray(token_ids, dtype=dtype), allow_pickle=False)
    members = (
        (IDS_MEMBER, npy.getvalue()),
        (HEADER_MEMBER, json.dumps(header, ensure_ascii=False, sort_keys=True).encode("utf-8")),
        (TEXT_MEMBER, doc.text.encode("utf-8")),
    )
    return Sample(key=sample_key(doc.id), members=members, tokens=len(token_ids))


class DocumentEncoder:
    """Tokenizes documents into Samples with one loaded tokenizer."""

    def __init__(self, tokenizer, append_eos: bool):
        self._tokenizer = tokenizer
        self._eos = [tokenizer.eos_token_id] if append_eos else []
        self.dtype = token_dtype(len(tokenizer))

    def encode(self, doc: Document) -> Sample | None:
        """The sample of `doc`, or None when its text yields no tokens (EOS aside)."""
        ids = self._tokenizer.encode(doc.text, add_special_tokens=False)
        if not ids:
            return None
        return encode_sample(doc, ids + self._eos, self.dtype)
