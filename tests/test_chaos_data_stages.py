"""`fullchain clean | dedup | prepare` killed with SIGKILL at a random point: nothing partial is
visible (a ledger.json only where the stage output is complete and verifies against its parts, a
manifest only with complete shards), and the rerun gives what an uninterrupted run gives.

Round r runs COMMANDS[r % 3] and kills it after a seeded random delay between 0 and the time an
uninterrupted run took. FULLCHAIN_CHAOS_ROUNDS sets the number of rounds (1 under `make test`,
10 under `make fuzz`).
"""

from __future__ import annotations

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl
from fullchain.pipelines.shard.manifest import load_manifest, verify_shard
from fullchain.pipelines.stage_folder import read_stage_folder

from .beam_runner_args import IN_PROCESS

ROUNDS = int(os.environ.get("FULLCHAIN_CHAOS_ROUNDS", "1"))
# One in-process worker: the same writes in the same order as the multi-process profile, at half
# the start-up time on a small machine.
BEAM_ARGS = ["--", *IN_PROCESS]
PREPARE_FLAGS = ["--prepare.stages", "clean,dedup,shard", "--shard.train.vocab-size", "300",
                 "--shard.target-shard-mb", "0.05"]
COMMANDS = ("clean", "dedup", "prepare")
LEDGER_COUNTS = ("stage", "input", "kept", "rejected_total", "rejected")


def command(name: str, corpus: str, clean_output: str, out: str) -> list[str]:
    source = clean_output if name == "dedup" else corpus
    flags = PREPARE_FLAGS if name == "prepare" else []
    return [sys.executable, "-m", "fullchain", name, "--input", source, "--output", out, *flags, *BEAM_ARGS]


def stage_folders(name: str, out: str) -> list[str]:
    return [os.path.join(out, "clean"), os.path.join(out, "dedup")] if name == "prepare" else [out]


def kept_ids(folder: str) -> list[str]:
    return sorted(i for f in glob.glob(os.path.join(folder, "data", "*.parquet"))
                  for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())


def outcome(name: str, out: str) -> dict:
    """What a finished run left, in a form two runs can be compared by."""
    result = {}
    for folder in stage_folders(name, out):
        ledger, _ = read_stage_folder(folder)
        result[folder[len(out):]] = ({k: ledger[k] for k in LEDGER_COUNTS}, kept_ids(folder))
    if name == "prepare":
        manifest = load_manifest(os.path.join(out, "shards"))
        result["shards"] = sorted((s["path"], s["sha256"]) for s in manifest["shards"])
        result["prepare.json"] = json.load(open(os.path.join(out, "prepare.json")))
    return result


def assert_nothing_partial(name: str, out: str) -> None:
    complete = []
    for folder in stage_folders(name, out):
        if os.path.exists(os.path.join(folder, "ledger.json")):
            read_stage_folder(folder)  # complete: every part there with its rows and checksum
            complete.append(folder)
    if name == "prepare":
        shards = os.path.join(out, "shards")
        if os.path.exists(os.path.join(shards, "manifest.json")):
            for entry in load_manifest(shards)["shards"]:
                verify_shard(os.path.join(shards, entry["path"]), entry)
            complete.append(shards)
        if os.path.exists(os.path.join(out, "prepare.json")):
            assert len(complete) == 3, complete


def run_to_end(argv: list[str]) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return time.monotonic() - start


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """(corpus, reference(name) -> (output folder of an uninterrupted run, its seconds)), runs shared
    by the rounds; dedup's input is the reference clean output."""
    root = tmp_path_factory.mktemp("chaos")
    records, _ = generate_corpus(300, seed=5)
    corpus = str(root / "corpus.jsonl")
    write_jsonl(records, corpus)
    done: dict[str, tuple[str, float]] = {}

    def reference(name: str) -> tuple[str, float]:
        if name not in done:
            clean_output = reference("clean")[0] if name != "clean" else ""
            out = str(root / f"reference-{name}")
            done[name] = (out, run_to_end(command(name, corpus, clean_output, out)))
        return done[name]

    return root, corpus, reference


@pytest.mark.chaos
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_killed_data_stage_leaves_nothing_partial_and_reruns(references, round_):
    root, corpus, reference = references
    name = COMMANDS[round_ % len(COMMANDS)]
    expected_folder, elapsed = reference(name)
    clean_output = reference("clean")[0]
    expected = outcome(name, expected_folder)

    out = str(root / f"killed-{round_}")
    delay = random.Random(round_).uniform(0, elapsed)
    job = subprocess.Popen(command(name, corpus, clean_output, out), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    os.killpg(job.pid, signal.SIGKILL)  # the job and every Beam worker process it started
    job.wait()
    assert_nothing_partial(name, out)

    run_to_end(command(name, corpus, clean_output, out))
    assert outcome(name, out) == expected
