"""`fullchain shard` killed with SIGKILL mid-way: no partial shard is visible, no manifest lies, a re-run completes."""

import os
import signal
import subprocess
import sys
import tarfile
import time

from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl
from fullchain.pipelines.shard.manifest import load_manifest, verify_shard

FLAGS = ["--shard.train.vocab-size", "1000", "--shard.target-shard-mb", "0.2", "--shard.val-fraction", "0.1"]


def shard_command(corpus: str, out: str) -> list[str]:
    return [sys.executable, "-m", "fullchain", "shard", "--input", corpus, "--output", out, *FLAGS]


def visible_shards(out: str) -> list[str]:
    return [os.path.join(root, name) for root, _, names in os.walk(out) for name in names
            if name.endswith(".tar") and not name.startswith(".")]


def test_sigkill_mid_way_then_rerun(tmp_path):
    records, _ = generate_corpus(4000, seed=11, noise_fraction=0.0)
    write_jsonl(records, str(tmp_path / "corpus.jsonl"))
    out = str(tmp_path / "shards")
    job = subprocess.Popen(shard_command(str(tmp_path / "corpus.jsonl"), out), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not visible_shards(out) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # the job and its Beam worker processes
    job.wait()
    assert visible_shards(out), "the job ended before it wrote a shard: nothing was interrupted"
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    for path in visible_shards(out):  # every shard a reader can see is complete
        with tarfile.open(path) as tar:
            assert all(tar.extractfile(m).read() is not None for m in tar.getmembers() if m.isfile())

    rerun = subprocess.run(shard_command(str(tmp_path / "corpus.jsonl"), out), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    manifest = load_manifest(out)
    assert manifest["written"] == len(records)
    listed = {os.path.join(out, entry["path"]) for entry in manifest["shards"]}
    assert set(visible_shards(out)) == listed
    for entry in manifest["shards"]:
        verify_shard(os.path.join(out, entry["path"]), entry)
    leftovers = [n for _, _, names in os.walk(out) for n in names if ".tmp-" in n]
    assert not leftovers
