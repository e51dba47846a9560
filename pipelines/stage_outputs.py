"""What every data stage's Beam transform returns."""

from __future__ import annotations

from typing import Any, NamedTuple


class StageOutputs(NamedTuple):
    """The PCollections a data stage produces from its input PCollection[Document].

    kept: PCollection[Document], what the stage passes on (including documents it added).
    rejected: PCollection[Rejected], every input or added document it did not keep, with a reason.
    added: PCollection[Document] of documents the stage created (augmentations), or None. The
    ledger then balances as input + added == kept + rejected.
    tallies: PCollection[tuple[str, int]] or None; summed per key into the ledger's `tallies`.
    measures: PCollection[tuple[str, float]] or None; each key's values summarized into the
    ledger's `measures` (pipelines.ledger.summarize_measure).
    """

    kept: Any
    rejected: Any
    added: Any = None
    tallies: Any = None
    measures: Any = None
