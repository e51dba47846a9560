"""`fullchain prepare`: all stages in one Beam job give the same shards as the stages run one by one."""

from __future__ import annotations

import json
import os

import pytest

from fullchain.cli import main
from fullchain.pipelines.config import load_config
from fullchain.pipelines.job_config import RunConfig
from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl
from fullchain.pipelines.stage_job import run_stage

from .beam_runner_args import IN_PROCESS
from .stage_checks import assert_ledger_balanced, assert_manifest_balanced, non_blank_lines, parquet_rows
from .tiny_models import tiny_causal_lm, tiny_seq2seq

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_STAGES = ("clean", "dedup", "ppl_filter", "backtranslate")
# the stages run one by one and the switched-off run are not tests of a runner: they run IN_PROCESS
# (`prepared` runs the local profile's processes, the last tests the other runners)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    records, _ = generate_corpus(120, seed=7)
    (root / "corpus").mkdir()
    write_jsonl(records, str(root / "corpus" / "c.jsonl"))
    lm = tiny_causal_lm(str(root / "models" / "lm"))
    mt = tiny_seq2seq(str(root / "models" / "mt"))
    overrides = {
        "ppl_filter.model": lm, "ppl_filter.mode": "percentile",
        "backtranslate.forward_model": mt, "backtranslate.backward_model": mt, "backtranslate.fraction": "0.2",
        "backtranslate.generation.max_new_tokens": "16",
        # the tiny models' round trips are noise: let the gate keep what it can measure
        "backtranslate.gate.check_language": "false", "backtranslate.gate.min_similarity": "0.0",
        "backtranslate.gate.max_similarity": "0.99",
        "shard.train.vocab_size": "400", "shard.val_fraction": "0.2", "shard.target_shard_mb": "0.05",
    }
    return root, overrides


def config(input, output, overrides, profile="local", **more):
    return load_config(RunConfig, None, {"input": input, "output": output, "runner_profile": profile,
                                         **overrides, **more})


def shard_digests(manifest: dict) -> dict[str, str]:
    return {s["path"]: s["sha256"] for s in manifest["shards"]}


def assert_prepare_balanced(root, out: str, outcome) -> None:
    """Every stage folder of a prepare run balances against its rows and the job's counters, each
    stage's input is the one before's kept, clean's is the corpus's records, and the shard manifest
    accounts for the last stage's kept documents."""
    summary = outcome.ledger
    assert summary == json.load(open(os.path.join(out, "prepare.json")))
    previous_kept = non_blank_lines([str(root / "corpus" / "c.jsonl")])
    for stage in DATA_STAGES:
        ledger = assert_ledger_balanced(os.path.join(out, stage), counters=outcome.counters)
        assert ledger["input"] == previous_kept, stage
        assert summary["stages"][stage]["kept"] == ledger["kept"]
        previous_kept = ledger["kept"]
    manifest = assert_manifest_balanced(os.path.join(out, "shards"), previous_kept)
    assert summary["stages"]["shard"]["written"] == manifest["written"]


@pytest.fixture(scope="module")
def one_by_one(setup):
    root, overrides = setup
    source, outcomes = str(root / "corpus"), {}
    for stage in ("clean", "dedup", "ppl_filter", "backtranslate", "shard"):
        out = str(root / "one_by_one" / stage)
        outcomes[stage] = run_stage(stage, config(source, out, overrides), IN_PROCESS)
        source = out
    return outcomes


@pytest.fixture(scope="module")
def prepared(setup):
    root, overrides = setup
    out = str(root / "prepared")
    return out, run_stage("prepare", config(str(root / "corpus"), out, overrides), [])


def test_every_stage_run_alone_balances(setup, one_by_one):
    root, _ = setup
    expected_input = non_blank_lines([str(root / "corpus" / "c.jsonl")])
    for stage in DATA_STAGES:
        outcome = one_by_one[stage]
        ledger = assert_ledger_balanced(str(root / "one_by_one" / stage), outcome.ledger, outcome.counters)
        assert ledger["input"] == expected_input, stage
        expected_input = ledger["kept"]
    assert one_by_one["backtranslate"].ledger["added"] > 0 and one_by_one["ppl_filter"].ledger["rejected_total"] > 0
    assert_manifest_balanced(str(root / "one_by_one" / "shard"), expected_input, one_by_one["shard"].ledger)


def test_prepare_equals_the_stages_run_one_after_another(setup, one_by_one, prepared):
    out, outcome = prepared
    summary = outcome.ledger
    assert_prepare_balanced(setup[0], out, outcome)
    for stage in ("clean", "dedup", "ppl_filter", "backtranslate"):
        alone = one_by_one[stage].ledger
        together = json.load(open(os.path.join(out, stage, "ledger.json")))
        assert (together["input"], together["kept"], together["rejected"]) == \
               (alone["input"], alone["kept"], alone["rejected"]), stage
        assert summary["stages"][stage]["enabled"] and summary["stages"][stage]["kept"] == alone["kept"]
    manifest = json.load(open(os.path.join(out, "shards", "manifest.json")))
    assert shard_digests(manifest) == shard_digests(one_by_one["shard"].ledger)
    assert manifest["tokenizer"]["sha256"] == one_by_one["shard"].ledger["tokenizer"]["sha256"]
    # the manifest carries every stage's ledger, in order
    chain, ledger = [], manifest["pipeline"][-1]
    while ledger:
        chain.append(ledger["stage"])
        ledger = ledger["upstream"][-1] if ledger["upstream"] else None
    assert chain == ["backtranslate", "ppl_filter", "dedup", "clean"]


def test_backtranslate_ledger_counts_augmentations(setup, one_by_one):
    ledger = one_by_one["backtranslate"].ledger
    assert ledger["added"] > 0
    assert ledger["kept"] == ledger["input"] + ledger["added_kept"]
    assert ledger["rejected_total"] == ledger["added"] - ledger["added_kept"]
    # every round trip the gate judged, kept or rejected, is in the ledger's BLEU/chrF distributions
    folder = str(setup[0] / "one_by_one" / "backtranslate")
    metas = [json.loads(row["meta"]) for part in ("data", "rejected") for row in parquet_rows(folder, part)]
    for name in ("roundtrip_bleu", "roundtrip_chrf"):
        values = sorted(meta[name] for meta in metas if name in meta)
        measure = ledger["measures"][name]
        assert measure["count"] == len(values) == ledger["added"]
        assert (measure["min"], measure["max"]) == (values[0], values[-1])
        assert measure["mean"] == pytest.approx(sum(values) / len(values))
        assert sum(measure["histogram"]["counts"]) == len(values)


def test_switched_off_stages_are_recorded_and_skipped(setup, tmp_path):
    root, overrides = setup
    out = str(tmp_path / "prep")
    outcome = run_stage("prepare", config(str(root / "corpus"), out, overrides,
                                          **{"prepare.stages": "clean,shard"}), IN_PROCESS)
    stages = outcome.ledger["stages"]
    assert [s for s, e in stages.items() if e["enabled"]] == ["clean", "shard"]
    assert not os.path.exists(os.path.join(out, "dedup"))
    manifest = json.load(open(os.path.join(out, "shards", "manifest.json")))
    assert manifest["input_documents"] == stages["clean"]["kept"]


@pytest.mark.parametrize("profile, beam_args", [
    ("portable", []),
    # No Flink cluster here: --job_endpoint=embed makes FlinkRunner submit to a job service in this process.
    ("flink", ["--job_endpoint=embed"]),
], ids=["portable", "flink_runner_submission_to_in_process_job_service"])
def test_prepare_gives_the_same_shards_on_other_runners(setup, prepared, profile, beam_args, tmp_path):
    root, overrides = setup
    outcome = run_stage("prepare", config(str(root / "corpus"), str(tmp_path / "p"), overrides, profile), beam_args)
    assert_prepare_balanced(root, str(tmp_path / "p"), outcome)
    assert outcome.ledger["stages"] == prepared[1].ledger["stages"]
    ours = json.load(open(tmp_path / "p" / "shards" / "manifest.json"))
    assert shard_digests(ours) == shard_digests(json.load(open(os.path.join(prepared[0], "shards",
                                                                             "manifest.json"))))


def test_prepare_job_graph_builds_for_dataflow(setup, tmp_path, monkeypatch, dataflow_workdir):
    root, overrides = setup
    monkeypatch.chdir(dataflow_workdir)
    outcome = run_stage("prepare", config(str(root / "corpus"), str(tmp_path / "out"), overrides, "dataflow",
                                          runners_file=os.path.join(PROJECT_ROOT, "runners.yaml")),
                        ["--dry_run=True"])
    names = {t.unique_name for t in outcome.result.job.proto_pipeline.components.transforms.values()}
    assert {"Clean", "Dedup", "PplFilter", "Backtranslate", "Shard", "WriteSummary"} <= names


@pytest.mark.parametrize("argv, message", [
    (["ppl-filter", "--ppl-filter.model", "/no/such/model"], "/no/such/model"),
    (["backtranslate", "--backtranslate.forward-model", "/no/such/mt"], "/no/such/mt"),
    (["shard", "--shard.tokenizer", "/no/such/tokenizer"], "/no/such/tokenizer"),
    (["prepare", "--prepare.stages", "clean,tokenize"], "tokenize"),
])
def test_missing_models_fail_before_any_work(setup, argv, message, tmp_path, capsys):
    root, _ = setup
    code = main(argv + ["--input", str(root / "corpus"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
