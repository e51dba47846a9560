"""The same output on the DirectRunner and on the portable runner path (embedded job service)."""

import glob
import json

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from fullchain.pipelines.dedup.beam import DeduplicateDocuments
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus

RUNNERS = {
    "direct": ["--runner=DirectRunner"],
    "portable": ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
}


def _row(item) -> str:
    if isinstance(item, Document):
        return json.dumps(["kept", item.id, item.text, item.meta], sort_keys=True)
    return json.dumps(["rejected", item.doc.id, item.reason, item.duplicate_of, item.detail])


def _run(runner: str, records, cfg: DedupConfig, output: str) -> list[str]:
    docs = [Document(id=r["id"], text=r["text"], meta={"url": r["url"]}) for r in records]
    with beam.Pipeline(options=PipelineOptions(RUNNERS[runner])) as p:
        out = p | beam.Create(docs) | DeduplicateDocuments(cfg)
        ((out.kept, out.rejected) | beam.Flatten() | beam.Map(_row)
         | beam.io.WriteToText(output, shard_name_template=""))
    return sorted(line for path in glob.glob(output + "*") for line in open(path, encoding="utf-8"))


def test_direct_and_portable_runner_agree(tmp_path):
    records, truth = generate_corpus(400, seed=2, near_dup_fraction=0.2, noise_fraction=0.0)
    direct = _run("direct", records, DedupConfig(), str(tmp_path / "direct"))
    portable = _run("portable", records, DedupConfig(), str(tmp_path / "portable"))
    assert len(direct) == 400
    assert sum(row.startswith('["rejected"') for row in direct) > sum(d.kind == "exact" for d in truth.duplicates)
    assert portable == direct
