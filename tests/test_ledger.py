"""The ledger: counts must balance, and the table shows every reason."""

import pytest

from pipelines.ledger import LedgerImbalance, build_ledger, ledger_counter_values, ledger_table


def test_balanced_ledger_and_table():
    ledger = build_ledger("clean", 10, 7, [("too_long", 1), ("blocklist", 2)], params={"a": 1},
                          inputs=["x.jsonl"], runner="local")
    assert ledger["rejected"] == {"blocklist": 2, "too_long": 1}
    assert ledger["rejected_total"] == 3
    table = ledger_table(ledger)
    assert "input" in table and "rejected: blocklist" in table and "70.00%" in table


def test_imbalance_is_an_error():
    with pytest.raises(LedgerImbalance, match="input 10 != kept 7 \\+ rejected 2"):
        build_ledger("dedup", 10, 7, [("near_duplicate", 2)], params={}, inputs=[], runner="local")


def test_counter_values_expected_from_a_ledger():
    ledger = build_ledger("dedup", 5, 3, [("near_duplicate", 2), ("duplicate_id", 0)], params={}, inputs=[],
                          runner="local")
    assert ledger_counter_values(ledger) == {"dedup.kept": 3, "dedup.rejected.near_duplicate": 2}


def test_added_documents_balance_against_kept_and_rejected():
    ledger = build_ledger("backtranslate", 10, 13, [("roundtrip_drift", 2)], params={}, inputs=[],
                          runner="local", added=5, added_kept=3)
    assert (ledger["added"], ledger["added_kept"]) == (5, 3)
    assert "added and kept" in ledger_table(ledger)
    with pytest.raises(LedgerImbalance, match="input 10 \\+ added 5 != kept 12"):
        build_ledger("backtranslate", 10, 12, [("roundtrip_drift", 2)], params={}, inputs=[], runner="local",
                     added=5)
