"""bench/run_all.py's page update: the generated part of docs/BENCHMARKS.md is replaced between
its markers and everything around it is kept; a missing script is a row saying so."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from tests.conftest import PROJECT_ROOT

_spec = importlib.util.spec_from_file_location("run_all", os.path.join(PROJECT_ROOT, "bench", "run_all.py"))
run_all = importlib.util.module_from_spec(_spec)
sys.modules["run_all"] = run_all  # its dataclasses look their module up there
_spec.loader.exec_module(run_all)


def _section(ratio: str) -> str:
    row = run_all.Row("training vs plain", "1 tokens/s", "2 tokens/s", ratio, "`cmd`", 3.0, bench="train",
                      measured="2026-12-02 03:00 UTC")
    return run_all.render_section([row], "x86_64, 2 cores", "2026-12-02 03:00 UTC", "make bench", "shared machine")


def test_the_generated_part_is_replaced_and_the_hand_written_parts_kept():
    first = run_all.replace_section("# Benchmarks\n\n## Dedup (hand-written)\n\ntext\n", _section("0.50x"))
    assert first.startswith("# Benchmarks\n\n## Dedup (hand-written)\n\ntext\n\n" + run_all.BEGIN)
    edited = first + "\n## Later section (another helper)\n\nmore\n"
    second = run_all.replace_section(edited, _section("0.75x"))
    assert "0.50x" not in second and "| 0.75x |" in second
    assert second.count(run_all.BEGIN) == 1 and second.count(run_all.END) == 1
    assert second.startswith("# Benchmarks\n\n## Dedup (hand-written)\n\ntext\n\n")
    assert second.endswith(run_all.END + "\n\n## Later section (another helper)\n\nmore\n")
    assert "shared machine" in second


def test_a_missing_script_is_a_row_saying_so(tmp_path):
    bench = run_all.Bench("nothing", "x vs y", "bench_that_is_not_there.py", lambda a, out: [], lambda r: ("", "", ""))
    row = run_all.run_bench(bench, argparse.Namespace(output="out"), str(tmp_path))
    assert row.ratio == "not measured: bench/bench_that_is_not_there.py is not in this checkout"


def test_clean_figures_are_read_from_what_the_script_prints():
    printed = "corpus...\nlangdetect alone      1,204 docs/s  (rounds: 1)\nclean                   602 docs/s  (rounds: 1)\n"
    figures = run_all._clean_stdout(printed)
    assert run_all._clean_row(figures)[2] == "0.50x"


def test_an_only_run_replaces_its_rows_and_keeps_the_others_in_bench_order():
    old = [run_all.Row("d", "-", "-", "failed", "", bench="dedup", measured="t0"),
           run_all.Row("t", "1", "2", "0.50x", "", bench="train", measured="t0")]
    new = [run_all.Row("d", "3", "1", "3.00x", "", bench="dedup", measured="t1")]
    merged = run_all.merged_rows(new, old)
    assert [(r.bench, r.ratio, r.measured) for r in merged] == [("dedup", "3.00x", "t1"), ("train", "0.50x", "t0")]
