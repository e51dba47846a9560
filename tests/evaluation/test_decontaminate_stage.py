"""`fullchain decontaminate`: documents that contain an item of the shipped evaluation suite are
rejected with reason decontaminated, the others kept; the ledger balances."""

import json

import pyarrow.parquet as pq

from fullchain.cli import main
from fullchain.pipelines.decontaminate.evaluation_items import shipped_suite_data
from tests.stage_checks import assert_ledger_balanced, parquet_rows


def test_documents_holding_suite_items_are_dropped(tmp_path, capsys):
    cloze = [json.loads(line) for line in open(f"{shipped_suite_data()}/fc_cloze.jsonl", encoding="utf-8")]
    planted = {f"planted-{i}": f"A story. {cloze[i]['context'].upper()}   {cloze[i]['word']}! The end."
               for i in (1, 5)}
    clean = {f"clean-{i}": f"The weather in the valley was mild on day {i}, and the market opened early."
             for i in range(4)}
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in {**planted, **clean}.items()))
    out = tmp_path / "out"
    assert main(["decontaminate", "--input", str(corpus), "--output", str(out)]) == 0
    ledger = assert_ledger_balanced(str(out))
    assert ledger["rejected"] == {"decontaminated": 2}
    rejected = parquet_rows(str(out), "rejected")
    assert sorted(r["id"] for r in rejected) == sorted(planted)
    assert all("fc_cloze.jsonl:" in r["detail"] for r in rejected)
    assert sorted(r["id"] for r in parquet_rows(str(out), "data")) == sorted(clean)


def test_a_missing_item_file_is_one_line_before_the_job(tmp_path, capsys):
    corpus = tmp_path / "in.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "x"}) + "\n")
    assert main(["decontaminate", "--input", str(corpus), "--output", str(tmp_path / "out"),
                 "--decontaminate.evaluation", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "decontaminate.evaluation:" in err and "nope.jsonl: no such file or folder" in err
    assert not (tmp_path / "out").exists()
