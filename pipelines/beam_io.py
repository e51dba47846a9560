"""Beam transforms every data stage shares: read input files into Documents (each file or split
read by input_reading.ReadFile), and write a stage's kept and rejected documents as Parquet with a
ledger that balances.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from fullchain.pipelines.atomic_write import temporary_name, write_atomically
from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.document import Document, Rejected
from fullchain.pipelines.input_files import LEDGER_FILE, InputFile
from fullchain.pipelines.input_reading import REJECTED, ReadFile, plan_splits, split_line_stats
from fullchain.pipelines.input_splits import first_lines
from fullchain.pipelines.job_config import ReadConfig
from fullchain.pipelines.ledger import build_ledger, summarize_measure
from fullchain.pipelines.stage_folder import describe_part

DOCUMENTS = "documents"
LEDGER_NAMESPACE = "fullchain.ledger"
# What a stage writes in its output folder besides ledger.json: a re-run replaces them.
STAGE_SUBFOLDERS = ("data", "rejected", "clusters")
PROGRESS_LOG = logging.getLogger("fullchain.progress")

KEPT_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("text", pa.string()),
    ("lang", pa.string()),
    ("source", pa.string()),
    ("meta", pa.string()),
])
REJECTED_SCHEMA = pa.schema(list(KEPT_SCHEMA) + [
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("detail", pa.string()),
    ("duplicate_of", pa.string()),
])


class ReadDocuments(beam.PTransform):
    """Reads input files into a PCollection of Documents (main output) and one of read rejections
    (`rejected`). Files, and splits of files larger than read.split_mb (byte ranges of uncompressed
    JSONL, runs of Parquet row groups: input_splits.py), are spread over workers; what is read is
    the same as reading every file whole.

    `numbered`: the main output is (serial, Document) instead, the serial from the file's place in
    `files`, the split and the document's place in it (input_reading.record_serial): every read of
    the same files gives every document the same serial, so a stage can read its input again
    instead of holding it (dedup does)."""

    def __init__(self, files: Sequence[InputFile], cfg: ReadConfig, numbered: bool = False):
        super().__init__()
        self._files = list(files)
        self._cfg = cfg
        self._file_numbers = {f.path: i for i, f in enumerate(self._files)} if numbered else None

    def expand(self, pbegin):
        splits = (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "PlanSplits" >> beam.FlatMap(plan_splits, self._cfg.split_bytes)
            | "SpreadSplits" >> beam.Reshuffle()
        )
        line_starts = (
            splits
            | "RangeStats" >> beam.FlatMap(split_line_stats)
            | "AllRangeStats" >> beam.combiners.ToList()
            | "FirstLines" >> beam.FlatMap(lambda stats: first_lines(stats).items())
        )
        read = beam.ParDo(ReadFile(self._cfg, self._file_numbers), beam.pvalue.AsDict(line_starts))
        return splits | "ReadFiles" >> read.with_outputs(REJECTED, main=DOCUMENTS)


class LogProgress(beam.DoFn):
    """Passes elements through and logs (logger `fullchain.progress`), at most every `interval_s`
    per worker, how many it has seen. Workers' logs reach the driver through Beam's logging
    service; pipelines.stage_job.show_worker_progress prints them."""

    def __init__(self, label: str, interval_s: float = 10.0):
        self._label = label
        self._interval = interval_s

    def setup(self):
        self._seen = 0
        self._start = self._last = time.monotonic()

    def process(self, element):
        self._seen += 1
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            rate = self._seen / (now - self._start)
            PROGRESS_LOG.info("[%s] %s documents on this worker (%s docs/s)",
                              self._label, f"{self._seen:,}", f"{rate:,.0f}")
        yield element


class _CountOutcome(beam.DoFn):
    """Counts kept and rejected documents in Beam metrics (namespace fullchain.ledger)."""

    def __init__(self, stage: str):
        self._stage = stage

    def setup(self):
        self._counters: dict[str, Any] = {}

    def process(self, element):
        name = (f"{self._stage}.rejected.{element.reason}" if isinstance(element, Rejected)
                else f"{self._stage}.kept")
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(LEDGER_NAMESPACE, name)
        counter.inc()
        yield element


class WriteStageOutput(beam.PTransform):
    """Writes OUT/data/*.parquet, OUT/rejected/*.parquet and OUT/ledger.json for one stage.

    Input: a dict with `inputs` (the PCollections whose elements count as the stage's input),
    `kept` (Documents), `rejected` (Rejected), optionally `added` (Documents the stage created) and
    `upstream` (the ledger of the stage before, when both run in one job), and `tallies` /
    `measures` when the stage reports them (StageOutputs). The ledger is computed
    from the data itself, and the job fails if input + added != kept + rejected. Its `parts` give
    each written data part's path, rows, bytes and sha256, so a later stage can check the folder
    (pipelines.stage_folder.read_stage_folder). The transform's output is a PCollection holding
    the ledger.
    """

    def __init__(self, output: str, stage: str, params: dict[str, Any], inputs: list[str], runner: str,
                 upstream: list[dict] | None = None):
        super().__init__()
        self._output = output
        self._stage = stage
        self._ledger_args = dict(params=params, inputs=inputs, runner=runner, upstream=upstream or [])

    def expand(self, pcolls: dict):
        stage = self._stage
        # Each input is counted where it is produced and only the counts are flattened: a Flatten
        # of the documents themselves would hold a copy of every text between two stages of the
        # local runner, and hand the next stage an input that takes seconds to send.
        input_terms = [
            term
            for i, pcoll in enumerate(pcolls["inputs"])
            for term in (pcoll | f"CountInput{i}" >> beam.combiners.Count.Globally(),
                         pcoll | f"AugmentedIn{i}" >> beam.Map(
                             lambda doc: -int(isinstance(doc, Document) and "augmented_from" in doc.meta))
                         | f"CountAugmentedIn{i}" >> beam.CombineGlobally(sum))
        ]
        input_count = input_terms[::2] | "InputTerms" >> beam.Flatten() | "CountInput" >> beam.CombineGlobally(sum)
        augmented_in = input_terms[1::2] | "AugmentedInTerms" >> beam.Flatten()
        kept = pcolls["kept"] | "CountKept" >> beam.ParDo(_CountOutcome(stage))
        rejected = pcolls["rejected"] | "CountRejected" >> beam.ParDo(_CountOutcome(stage))
        kept_writes = (
            kept
            | "KeptRows" >> beam.Map(Document.to_row)
            | "WriteKept" >> beam.io.WriteToParquet(
                FileSystems.join(self._output, "data", "part"), KEPT_SCHEMA, file_name_suffix=".parquet")
        )
        # WriteToParquet yields each part's final name once it is in place.
        kept_parts = kept_writes | "DescribeKeptParts" >> beam.Map(describe_part)
        rejected_writes = (
            rejected
            | "RejectedRows" >> beam.Map(Rejected.to_row)
            | "WriteRejected" >> beam.io.WriteToParquet(
                FileSystems.join(self._output, "rejected", "part"), REJECTED_SCHEMA, file_name_suffix=".parquet")
        )
        kept_count = kept | "CountKeptTotal" >> beam.combiners.Count.Globally()
        added = pcolls.get("added")
        if added is None:
            added = input_count.pipeline | "NothingAdded" >> beam.Create([])
        added_count = added | "CountAdded" >> beam.combiners.Count.Globally()
        # Augmentations that arrived as input pass through unchanged: what is kept beyond them was added here.
        augmented_kept = kept | "AugmentedKept" >> beam.Map(lambda doc: int("augmented_from" in doc.meta))
        added_kept_count = (augmented_in, augmented_kept) | "AddedKeptTerms" >> beam.Flatten() | (
            "CountAddedKept" >> beam.CombineGlobally(sum))
        reason_counts = (
            rejected
            | "Reasons" >> beam.Map(lambda r: r.reason)
            | "CountReasons" >> beam.combiners.Count.PerElement()
        )
        upstream = pcolls.get("upstream")
        if upstream is None:
            upstream = input_count.pipeline | "NoUpstreamInJob" >> beam.Create([])
        reported = {name: pcolls.get(name) is not None for name in ("tallies", "measures")}
        tallies = (pcolls["tallies"] | "SumTallies" >> beam.CombinePerKey(sum) if reported["tallies"]
                   else input_count.pipeline | "NoTallies" >> beam.Create([]))
        measures = (pcolls["measures"] | "GroupMeasures" >> beam.GroupByKey()
                    | "SummarizeMeasures" >> beam.MapTuple(lambda key, values: (key, summarize_measure(values)))
                    if reported["measures"] else input_count.pipeline | "NoMeasures" >> beam.Create([]))
        si = beam.pvalue
        return (
            input_count.pipeline
            | "LedgerSeed" >> beam.Create([None])
            | "BuildLedger" >> beam.Map(
                _ledger_from_counts, si.AsSingleton(input_count), si.AsSingleton(kept_count),
                si.AsList(reason_counts), si.AsSingleton(added_count), si.AsSingleton(added_kept_count),
                si.AsList(upstream), si.AsList(kept_parts),
                # waiting on the writes makes ledger.json the last file written: its presence marks completion
                si.AsList(rejected_writes), si.AsList(tallies), si.AsList(measures),
                stage=stage, ledger_args=self._ledger_args, reported=reported)
            | "WriteLedger" >> beam.Map(write_ledger, self._output)
        )


def _ledger_from_counts(_, n_input, n_kept, reasons, n_added, n_added_kept, in_job_upstream, kept_parts,
                        _rejected_files, tallies, measures, stage, ledger_args, reported):
    args = dict(ledger_args, upstream=ledger_args["upstream"] + list(in_job_upstream))
    return build_ledger(stage, n_input, n_kept, reasons, parts=kept_parts, added=n_added, added_kept=n_added_kept,
                        tallies=dict(tallies) if reported["tallies"] else None,
                        measures=dict(measures) if reported["measures"] else None, **args)


def write_json(content: dict, path: str) -> dict:
    """Write `content` as indented JSON to `path` (any Beam filesystem); returns it. The file
    appears complete or not at all: its presence is what marks an output finished."""
    write_atomically(path, json.dumps(content, indent=2, ensure_ascii=False, default=str).encode("utf-8"))
    return content


def read_json(path: str) -> dict:
    """The JSON object in `path` (any Beam filesystem)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return json.loads(fh.read().decode("utf-8"))


def write_ledger(ledger: dict, output: str) -> dict:
    """Write ledger.json into `output`; returns the ledger."""
    return write_json(ledger, FileSystems.join(output, LEDGER_FILE))


def read_ledger(output: str) -> dict:
    """The ledger.json of a finished stage output folder."""
    return read_json(FileSystems.join(output, LEDGER_FILE))


def prepare_output(output: str, marker: str = LEDGER_FILE, stage_folders: list[str] | None = None,
                   managed_folders: tuple[str, ...] = ()) -> None:
    """Make `output` ready for a stage: remove a previous output of ours there, refuse anything else.

    Ours are `marker` (ledger.json, or prepare.json for prepare) and the STAGE_SUBFOLDERS (data/,
    rejected/, dedup's clusters/; with their ledger.json) of the output itself or, for prepare, of
    each of `stage_folders`; a run killed part-way leaves only such files, so a re-run cleans up
    after it. Files anywhere else are not ours to delete: an error. `managed_folders` are ours too but left in place
    (the shard writer replaces its own output atomically).
    """
    if not output:
        raise ConfigError("no output given: set --output or 'output' in the config file")
    existing = [m.path for m in FileSystems.match([FileSystems.join(output, "**")])[0].metadata_list]
    folders = [FileSystems.join(output, s) for s in stage_folders] if stage_folders else [output]
    marker_path = FileSystems.join(output, marker)
    stale_prefixes = tuple(FileSystems.join(f, sub) + "/" for f in folders for sub in STAGE_SUBFOLDERS)
    stage_ledgers = {FileSystems.join(f, LEDGER_FILE) for f in folders}
    kept_prefixes = tuple(FileSystems.join(output, m) + "/" for m in managed_folders)
    # a run killed while writing a ledger (or the marker) leaves its temporary file
    json_folders = {f.rstrip("/") for f in folders} | {output.rstrip("/")}
    ledger_temporary, marker_temporary = temporary_name(LEDGER_FILE), temporary_name(marker)

    def is_temporary(path: str) -> bool:
        folder, name = path.rsplit("/", 1)
        return folder in json_folders and bool(ledger_temporary.match(name) or marker_temporary.match(name))

    stale, foreign = [], []
    for path in existing:
        if (path == marker_path or path in stage_ledgers or path.startswith(stale_prefixes)
                or is_temporary(path)):
            stale.append(path)
        elif not path.startswith(kept_prefixes):
            foreign.append(path)
    if foreign:
        raise ConfigError(f"output '{output}' holds files that are not a fullchain {marker} output "
                          f"(e.g. {foreign[0]}); choose an empty or new folder")
    if stale:
        FileSystems.delete(stale)
