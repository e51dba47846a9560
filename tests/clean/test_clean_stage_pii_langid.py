"""The clean stage as a Beam job: PII redaction and rejection per kind, and the script-decided
language, reach the written documents, the ledger and its table."""

import json

import opencc

from fullchain.pipelines.config import load_config
from fullchain.pipelines.job_config import RunConfig
from fullchain.pipelines.ledger import ledger_table
from fullchain.pipelines.stage_job import run_stage
from ..beam_runner_args import IN_PROCESS
from ..stage_checks import assert_ledger_balanced, parquet_rows
from .samples import CHINESE, ENGLISH

TRADITIONAL = opencc.OpenCC("s2t").convert(CHINESE)


def test_clean_job_redacts_rejects_and_records_the_language(tmp_path):
    records = [
        {"id": "en-mail", "text": ENGLISH + "\nWrite to jane.doe@example.com about the walk today.\n"},
        {"id": "zh-phone", "text": CHINESE + "\n如需预约，请拨打13812345678联系我们。\n"},
        {"id": "zh-tw", "text": TRADITIONAL},
        {"id": "en-id", "text": ENGLISH + "\nHer ID number 11010519491231002X was on the form.\n"},
        {"id": "en-ip", "text": ENGLISH + "\nThe server at 192.168.10.24 answered; mail root@example.org.\n"},
    ]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "docs.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    out = str(tmp_path / "out")
    cfg = load_config(RunConfig, None, {"input": str(tmp_path / "in"), "output": out, "runner_profile": "local",
                                        "clean.pii.cn_id": "reject", "clean.pii.ipv4": "keep"})
    outcome = run_stage("clean", cfg, IN_PROCESS)
    ledger = assert_ledger_balanced(out, outcome.ledger, outcome.counters)
    assert ledger["rejected"] == {"pii_cn_id": 1} and ledger["kept"] == 4
    assert "rejected: pii_cn_id" in ledger_table(ledger)
    # per kind: documents it was found in (kept or rejected), spans redacted or kept in the output
    assert ledger["tallies"] == {"pii_documents.cn_id": 1, "pii_documents.email": 2, "pii_documents.ipv4": 1,
                                 "pii_documents.phone": 1, "pii_kept.ipv4": 1, "pii_redacted.email": 2,
                                 "pii_redacted.phone": 1}
    assert "tally: pii_redacted.email" in ledger_table(ledger)
    assert ledger["params"]["clean"]["pii"]["cn_id"] == "reject"
    kept = {row["id"]: row for row in parquet_rows(out, "data")}
    meta = {doc_id: json.loads(row["meta"]) for doc_id, row in kept.items()}
    assert "<EMAIL>" in kept["en-mail"]["text"] and "jane.doe" not in kept["en-mail"]["text"]
    assert meta["en-mail"]["pii"] == {"email": 1} and meta["en-mail"]["lang_method"] == "langdetect"
    assert "<PHONE>" in kept["zh-phone"]["text"] and meta["zh-phone"]["pii"] == {"phone": 1}
    assert "192.168.10.24" in kept["en-ip"]["text"] and meta["en-ip"]["pii"] == {"email": 1, "ipv4": 1}
    assert kept["zh-tw"]["lang"] == "zh" and meta["zh-tw"]["lang_method"] == "script"
    assert meta["zh-tw"]["lang_variant"] == "zh-tw" and meta["zh-phone"]["lang_variant"] == "zh-cn"
    rejected = parquet_rows(out, "rejected")
    assert [(r["id"], r["reason"]) for r in rejected] == [("en-id", "pii_cn_id")]
    assert "11010519491231002X" not in rejected[0]["detail"]
