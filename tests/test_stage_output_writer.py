"""WriteStageOutput on the real Beam runner: a stage's tallies and measures reach its ledger.json."""

from __future__ import annotations

import json

import apache_beam as beam
import pytest

from fullchain.pipelines.beam_io import WriteStageOutput
from fullchain.pipelines.document import Document


def run_writer(tmp_path, **reported) -> dict:
    with beam.Pipeline("DirectRunner") as p:
        docs = p | "Docs" >> beam.Create([Document(id=f"d{i}", text=f"text {i}") for i in range(4)])
        pcolls = {"inputs": (docs,), "kept": docs, "rejected": p | "NoRejects" >> beam.Create([])}
        pcolls.update({name: p | name >> beam.Create(values) for name, values in reported.items()})
        _ = pcolls | WriteStageOutput(str(tmp_path), "clean", params={}, inputs=["in"], runner="local")
    return json.loads((tmp_path / "ledger.json").read_text())


def test_tallies_are_summed_and_measures_summarized_per_key(tmp_path):
    ledger = run_writer(tmp_path, tallies=[("pii_redacted.email", 2), ("pii_redacted.email", 3),
                                           ("pii_redacted.phone", 1)],
                        measures=[("roundtrip_bleu", v) for v in (10.0, 20.0, 30.0)])
    assert ledger["tallies"] == {"pii_redacted.email": 5, "pii_redacted.phone": 1}
    bleu = ledger["measures"]["roundtrip_bleu"]
    assert (bleu["count"], bleu["mean"], bleu["p50"]) == (3, pytest.approx(20.0), pytest.approx(20.0))
    assert sum(bleu["histogram"]["counts"]) == 3
    assert ledger["kept"] == 4


def test_a_stage_that_reports_nothing_has_neither_key_and_an_empty_report_is_kept(tmp_path):
    assert not {"tallies", "measures"} & set(run_writer(tmp_path / "plain"))
    assert run_writer(tmp_path / "empty", tallies=[])["tallies"] == {}
