"""The ledger: counts must balance, and the table shows every reason."""

import pytest

from fullchain.pipelines.ledger import (
    LedgerError, LedgerImbalance, build_ledger, ledger_counter_values, ledger_table, summarize_measure,
    validate_ledger,
)


def parts(*rows):
    return [{"path": f"data/part-{i:05d}-of-{len(rows):05d}.parquet", "rows": n, "bytes": 100 + n, "sha256": "0" * 64}
            for i, n in enumerate(rows)]


def test_balanced_ledger_and_table():
    ledger = build_ledger("clean", 10, 7, [("too_long", 1), ("blocklist", 2)], params={"a": 1},
                          inputs=["x.jsonl"], runner="local", parts=parts(3, 4))
    assert ledger["rejected"] == {"blocklist": 2, "too_long": 1}
    assert ledger["rejected_total"] == 3
    table = ledger_table(ledger)
    assert "input" in table and "rejected: blocklist" in table and "70.00%" in table


def test_imbalance_is_an_error():
    with pytest.raises(LedgerImbalance, match="input 10 != kept 7 \\+ rejected 2"):
        build_ledger("dedup", 10, 7, [("near_duplicate", 2)], params={}, inputs=[], runner="local",
                     parts=parts(7))


def test_counter_values_expected_from_a_ledger():
    ledger = build_ledger("dedup", 5, 3, [("near_duplicate", 2), ("duplicate_id", 0)], params={}, inputs=[],
                          runner="local", parts=parts(3))
    assert ledger_counter_values(ledger) == {"dedup.kept": 3, "dedup.rejected.near_duplicate": 2}


def test_added_documents_balance_against_kept_and_rejected():
    ledger = build_ledger("backtranslate", 10, 13, [("roundtrip_drift", 2)], params={}, inputs=[],
                          runner="local", added=5, added_kept=3, parts=parts(13))
    assert (ledger["added"], ledger["added_kept"]) == (5, 3)
    assert "added and kept" in ledger_table(ledger)
    with pytest.raises(LedgerImbalance, match="input 10 \\+ added 5 != kept 12"):
        build_ledger("backtranslate", 10, 12, [("roundtrip_drift", 2)], params={}, inputs=[], runner="local",
                     added=5, parts=parts(12))


def test_kept_must_equal_the_rows_of_the_written_parts():
    with pytest.raises(LedgerImbalance, match="kept 7 but the data parts hold 6 rows"):
        build_ledger("clean", 10, 7, [("too_long", 3)], params={}, inputs=[], runner="local", parts=parts(3, 3))


def valid_ledger():
    return build_ledger("clean", 10, 7, [("too_long", 3)], params={}, inputs=[], runner="local", parts=parts(3, 4))


@pytest.mark.parametrize("change, message", [
    (lambda l: [], "not a JSON object"),
    (lambda l: {}, "lacks stage, input, kept, rejected_total, rejected, upstream"),
    (lambda l: {k: v for k, v in l.items() if k != "parts"}, "has no 'parts'.*re-run the stage"),
    (lambda l: {**l, "kept": "7"}, "'kept' is not a non-negative integer"),
    (lambda l: {**l, "kept": True}, "'kept' is not a non-negative integer"),
    (lambda l: {**l, "rejected": {"too_long": 2}}, "'rejected' sums to 2, not rejected_total 3"),
    (lambda l: {**l, "input": 11}, "input \\+ added != kept \\+ rejected_total"),
    (lambda l: {**l, "parts": l["parts"][:1]}, "its parts hold 3 rows but 'kept' is 7"),
    (lambda l: {**l, "parts": [{**l["parts"][0], "sha256": None}, l["parts"][1]]}, "parts\\[0\\].sha256 missing"),
    (lambda l: {**l, "parts": [{**l["parts"][0], "path": "../x.parquet"}, l["parts"][1]]}, "not a file directly in data/"),
    (lambda l: {**l, "parts": [l["parts"][0], {**l["parts"][1], "path": l["parts"][0]["path"]}]}, "listed twice"),
    (lambda l: {**l, "tallies": {"pii_redacted.email": -1}}, "'tallies' is not an object of key -> count"),
    (lambda l: {**l, "measures": {"roundtrip_bleu": {"mean": 3.0}}}, "measures.roundtrip_bleu has no count"),
    (lambda l: {**l, "measures": {"roundtrip_bleu": {"count": 2, "mean": 3.0}}}, "measures.roundtrip_bleu lacks"),
])
def test_validate_ledger_names_the_first_problem(change, message):
    assert validate_ledger(valid_ledger()) == valid_ledger()
    with pytest.raises(LedgerError, match=message):
        validate_ledger(change(valid_ledger()))


def test_a_measure_is_summarized_by_its_percentiles_and_histogram():
    summary = summarize_measure([float(v) for v in range(1, 101)])
    assert (summary["count"], summary["min"], summary["max"], summary["mean"]) == (100, 1.0, 100.0, 50.5)
    assert (summary["p10"], summary["p50"], summary["p90"]) == pytest.approx((10.9, 50.5, 90.1))
    assert summary["histogram"]["counts"] == [10] * 10
    assert summary["histogram"]["edges"][0] == 1.0 and summary["histogram"]["edges"][-1] == 100.0
    assert summarize_measure([]) == {"count": 0}


def test_tallies_and_measures_appear_only_when_the_stage_reports_them():
    plain = valid_ledger()
    assert "tallies" not in plain and "measures" not in plain
    ledger = build_ledger("clean", 10, 7, [("too_long", 3)], params={}, inputs=[], runner="local",
                          parts=parts(3, 4), tallies={"pii_redacted.phone": 2, "pii_redacted.email": 5},
                          measures={"roundtrip_bleu": summarize_measure([10.0, 30.0])})
    assert validate_ledger(ledger) is ledger
    assert list(ledger["tallies"]) == ["pii_redacted.email", "pii_redacted.phone"]
    table = ledger_table(ledger)
    assert "tally: pii_redacted.email" in table and "measure: roundtrip_bleu" in table and "p50 20" in table
    empty = build_ledger("clean", 10, 7, [("too_long", 3)], params={}, inputs=[], runner="local",
                         parts=parts(3, 4), tallies={})
    assert empty["tallies"] == {}
