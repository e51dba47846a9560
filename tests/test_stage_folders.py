"""A stage folder as input: its ledger's `parts` are checked before a job reads it, and a damaged,
incomplete or hand-made folder is refused with one line instead of being read short."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fullchain.pipelines.beam_io import KEPT_SCHEMA
from fullchain.cli import main
from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.input_files import resolve_input
from fullchain.pipelines.ledger import build_ledger
from fullchain.pipelines.stage_folder import describe_part, parts_problem


def write_stage_folder(folder, rows_per_part=(3, 2), stage="clean") -> dict:
    """A stage output as WriteStageOutput leaves it: data parts, then ledger.json with their parts."""
    (folder / "data").mkdir(parents=True)
    paths, n = [], 0
    for i, count in enumerate(rows_per_part):
        rows = [{"id": f"doc-{n + j}", "text": f"text {n + j}", "lang": "en", "source": "s", "meta": "{}"}
                for j in range(count)]
        n += count
        path = folder / "data" / f"part-{i:05d}-of-{len(rows_per_part):05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=KEPT_SCHEMA), str(path))
        paths.append(str(path))
    ledger = build_ledger(stage, n + 1, n, [("too_long", 1)], params={}, inputs=["in.jsonl"], runner="local",
                          parts=[describe_part(p) for p in paths])
    (folder / "ledger.json").write_text(json.dumps(ledger))
    return ledger


def test_a_stage_folder_reads_exactly_its_ledger_parts(tmp_path):
    ledger = write_stage_folder(tmp_path / "clean")
    assert [p["path"] for p in ledger["parts"]] == ["data/part-00000-of-00002.parquet",
                                                     "data/part-00001-of-00002.parquet"]
    assert [p["rows"] for p in ledger["parts"]] == [3, 2]
    (tmp_path / "clean" / "data" / "beam-temp-part-1").mkdir()  # a folder in data/ is not a part
    resolved = resolve_input(str(tmp_path / "clean"))
    assert [f.key for f in resolved.files] == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
    assert resolved.upstream_ledgers == (ledger,)
    # naming its data/ folder is reading the stage folder, checks included
    assert resolve_input(str(tmp_path / "clean" / "data")).files == resolved.files


def damage_truncate(data):
    part = data / "part-00001-of-00002.parquet"
    part.write_bytes(part.read_bytes()[:-40])


def damage_flip_a_byte(data):
    part = data / "part-00001-of-00002.parquet"
    raw = bytearray(part.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    part.write_bytes(bytes(raw))


def damage_delete(data):
    (data / "part-00001-of-00002.parquet").unlink()


def damage_add(data):
    (data / "part-00002-of-00002.parquet").write_bytes((data / "part-00000-of-00002.parquet").read_bytes())


@pytest.mark.parametrize("damage, message", [
    (damage_truncate, r"data/part-00001-of-00002.parquet has \d+ bytes, its ledger.json says \d+ \(damaged\)"),
    (damage_flip_a_byte, r"data/part-00001-of-00002.parquet does not match the sha256 in its ledger.json \(the file changed .*\)"),
    (damage_delete, r"data/part-00001-of-00002.parquet is listed in its ledger.json but missing"),
    (damage_add, r"data/part-00002-of-00002.parquet is not one of the parts its ledger.json lists"),
])
def test_a_damaged_part_is_refused_naming_folder_and_part(tmp_path, damage, message):
    write_stage_folder(tmp_path / "clean")
    damage(tmp_path / "clean" / "data")
    with pytest.raises(ConfigError, match=f"stage folder '{tmp_path / 'clean'}': {message}; re-run the stage"):
        resolve_input(str(tmp_path / "clean"))


def test_parts_problem_compares_names_and_sizes():
    parts = {"data/a.parquet": {"bytes": 10}, "data/b.parquet": {"bytes": 20}}
    assert parts_problem(parts, {"data/a.parquet": 10, "data/b.parquet": 20}) is None
    assert "data/b.parquet is listed" in parts_problem(parts, {"data/a.parquet": 10})
    assert "data/c.parquet is not one" in parts_problem(parts, {"data/a.parquet": 10, "data/b.parquet": 20,
                                                                "data/c.parquet": 1})
    assert "data/a.parquet has 9 bytes" in parts_problem(parts, {"data/a.parquet": 9, "data/b.parquet": 20})


@pytest.mark.parametrize("content, message", [
    ('{"stage": "clean", "input": 3', "not valid JSON"),
    ("[1, 2]", "not a valid ledger: not a JSON object"),
    ("{}", "not a valid ledger: lacks stage, input, kept"),
    ('{"stage": "clean", "input": 3, "kept": 3, "rejected_total": 0, "rejected": {}, "upstream": []}',
     "has no 'parts'.*re-run the stage that wrote it"),
    (b"\xff\xfe\x00", "not valid JSON"),
])
def test_a_corrupt_or_old_ledger_is_refused(tmp_path, content, message):
    folder = tmp_path / "clean"
    write_stage_folder(folder)
    if isinstance(content, bytes):
        (folder / "ledger.json").write_bytes(content)
    else:
        (folder / "ledger.json").write_text(content)
    with pytest.raises(ConfigError, match=f"{folder / 'ledger.json'}: .*{message}"):
        resolve_input(str(folder))


def test_data_without_a_ledger_is_an_incomplete_stage_output(tmp_path):
    write_stage_folder(tmp_path / "clean")
    os.remove(tmp_path / "clean" / "ledger.json")
    with pytest.raises(ConfigError, match=f"{tmp_path / 'clean'} has data/ but no ledger.json: an incomplete "
                                          "stage output; re-run that stage"):
        resolve_input(str(tmp_path / "clean"))


def damage_remove_ledger(folder):
    os.remove(folder / "ledger.json")


STAGE_COMMANDS = [["dedup"], ["clean"], ["ppl-filter"], ["shard", "--shard.train.vocab-size", "300"],
                  ["prepare", "--prepare.stages", "dedup"]]


@pytest.mark.parametrize("command", STAGE_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("damage, message", [
    (lambda folder: damage_truncate(folder / "data"), "part-00001-of-00002.parquet has"),
    (lambda folder: damage_flip_a_byte(folder / "data"), "part-00001-of-00002.parquet does not match the sha256"),
    (damage_remove_ledger, "has data/ but no ledger.json"),
], ids=["truncated_part", "corrupt_part", "missing_ledger"])
def test_every_stage_refuses_a_damaged_input_folder_before_it_starts(tmp_path, capsys, tiny_lm, command,
                                                                     damage, message):
    write_stage_folder(tmp_path / "clean")
    damage(tmp_path / "clean")
    out = tmp_path / "out"
    model = ["--ppl-filter.model", tiny_lm] if command[0] == "ppl-filter" else []
    assert main([command[0], "--input", str(tmp_path / "clean"), "--output", str(out), *command[1:], *model]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()  # nothing half-written
