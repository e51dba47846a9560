"""Documents batched for a model by length, so that a batch pads little: the pure cut
(`document_batches`) and the Beam step that applies it to each bundle (`BatchDocuments`).
ppl-filter and classify both feed a model through it."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from fullchain.pipelines.document import Document


def document_batches(docs: list[Document], batch_size: int, by_length: bool) -> list[list[Document]]:
    """`docs` cut into batches of at most `batch_size`; with `by_length`, sorted first by language,
    then UTF-8 length (then id, so the batches do not depend on arrival order), so that a batch pads
    little. Bytes per token vary less across scripts than characters per token (a Chinese character
    is often a whole token, an English token about 4 letters), and grouping by language removes most
    of the rest, without tokenizing twice."""
    if by_length:
        docs = sorted(docs, key=lambda d: (d.lang, len(d.text.encode("utf-8")), d.id))
    return [docs[i:i + batch_size] for i in range(0, len(docs), batch_size)]


class BatchDocuments(beam.DoFn):
    """Batches the documents of a bundle (`document_batches`); memory is bounded by cutting every
    `buffered_batches` batches' worth. Global window only, as every data stage runs."""

    def __init__(self, batch_size: int, by_length: bool, buffered_batches: int):
        self._batch_size = batch_size
        self._by_length = by_length
        self._buffered = batch_size * buffered_batches

    def start_bundle(self):
        self._buffer = []

    def process(self, doc):
        self._buffer.append(doc)
        if len(self._buffer) >= self._buffered:
            yield from self._flush()

    def finish_bundle(self):
        for batch in self._flush():
            yield WindowedValue(batch, GlobalWindow().max_timestamp(), (GlobalWindow(),))

    def _flush(self):
        batches = document_batches(self._buffer, self._batch_size, self._by_length)
        self._buffer = []
        return batches
