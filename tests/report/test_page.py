"""The report page as HTML: every value shown comes from summary.json, nothing is fetched from
elsewhere, and a stage that did not run is a line, not a gap."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser

import pytest

from fullchain.report import write_report
from tests.report.page_checks import numeric_cells_without_key, shown_value_problem
from tests.report.run_folder import write_run


class _PageParser(HTMLParser):
    """Collects (data-key, scale, text) spans, numeric table cells, image sources and every URL attribute."""

    def __init__(self):
        super().__init__()
        self.values, self.cells, self.images, self.urls = [], [], [], []
        self._span = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href")]
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "td" and attrs.get("class") == "num":
            self._cell = ["", False]
        if "data-key" in attrs:
            self._span = [attrs["data-key"], float(attrs.get("data-scale", 1)), ""]
            if self._cell is not None:
                self._cell[1] = True

    def handle_endtag(self, tag):
        if tag == "span" and self._span is not None:
            self.values.append(tuple(self._span))
            self._span = None
        if tag == "td" and self._cell is not None:
            self.cells.append(tuple(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._span is not None:
            self._span[2] += data
        if self._cell is not None:
            self._cell[0] += data


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    run = write_run(str(tmp_path_factory.mktemp("run") / "run"))
    page = write_report(run)
    with open(page.parent / "summary.json") as fh:
        summary = json.load(fh)
    parser = _PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return page, summary, parser


def test_every_value_on_the_page_is_the_summary_value(written):
    _, summary, parser = written
    assert len(parser.values) > 150
    problems = [shown_value_problem(summary, key, text, scale) for key, scale, text in parser.values]
    assert [p for p in problems if p] == []
    assert numeric_cells_without_key(parser.cells) == []
    keys = {key for key, _, _ in parser.values}
    for key in ("funnel.stages.1.rejected.exact_duplicate", "planted.kinds.2.catch_rate", "dedup.size_histogram.1.size",
                "funnel.stages.0.tallies.1.count",
                "perplexity.cutoffs.0.ppl", "train.val_ppl_drop", "export.rows.3.size_mb",
                "serving.levels.2.ttft_p50_ms", "eval.rows.0.values.1", "train.samples.samples.1.texts.0", "serving.smoke.completion",
                "reference_lm.val_ppl_drop", "train.samples.samples.0.val_ppl", "train.val_ppl_drop_from_start", "lineage.shards.sha256",
                "lineage.published.versions_of_this_export.0.version", "backtranslation.measures.chrf.p90",
                "backtranslation.gate.min_chrf", "eval.gate.decision", "eval.gate.checked.0.change",
                "eval.served.max_relative_difference", "eval.served.rows.1.in_process"):
        assert key in keys


def test_the_page_is_self_contained_with_its_figures_beside_it(written):
    page, summary, parser = written
    assert sorted(parser.images) == sorted(summary["figures"].values())
    assert set(summary["figures"]) == {"funnel", "planted", "dedup_clusters", "perplexity", "training", "export",
                                       "serving", "eval_scores", "reference_lm_training", "backtranslation"}
    for src in parser.images:
        with open(page.parent / src, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert all(url.startswith("#") or "/" not in url and not re.match(r"\w+:", url) for url in parser.urls)
    assert "<script" not in page.read_text() and "@import" not in page.read_text()


def test_stages_that_did_not_run_are_said_so(tmp_path):
    page = write_report(write_run(str(tmp_path / "run"), stages="data"))
    text = page.read_text()
    for line in ("Not run: export did not run", "Not run: loadtest did not run", "Not run: eval did not run",
                 "Not run: train did not run", "Not run: lora did not run", "Not run: reference-lm/train did not run"):
        assert line in text
    assert sorted(os.listdir(page.parent)) == ["backtranslation.png", "dedup_clusters.png", "funnel.png", "index.html",
                                               "perplexity.png", "planted.png", "summary.json"]


def test_a_second_report_replaces_the_first(tmp_path):
    run = write_run(str(tmp_path / "run"), stages="data")
    write_report(run)
    os.remove(os.path.join(run, "ppl-filter", "ledger.json"))
    page = write_report(run)
    assert "perplexity.png" not in os.listdir(page.parent)
    assert [name for name in os.listdir(run) if name.startswith(".report-")] == []


def test_an_open_loop_load_test_is_shown_against_its_request_rates(tmp_path):
    run = write_run(str(tmp_path / "run"))
    levels = [{"request_rate": rate, "concurrency": peak, "delayed_requests": delayed, "requests": 20, "errors": 0,
               "duration_s": 5.0, "requests_per_s": rate, "tokens_per_s": 32.0 * rate, "p50_ms": 90.0 + rate,
               "ttft_p50_ms": 10.0 + rate, "first_error": None}
              for rate, peak, delayed in ((2.5, 1, 0), (10.0, 6, 3))]
    with open(os.path.join(run, "loadtest", "loadtest.json"), "w") as fh:
        json.dump({"model": "demo_llm", "protocol": "grpc", "mode": "request_rate", "max_concurrency": 64,
                   "max_tokens": 32, "duration_s": 5.0, "levels": levels}, fh)
    page = write_report(run)
    serving = json.loads((page.parent / "summary.json").read_text())["serving"]
    assert (serving["axis"], serving["axis_title"]) == ("request_rate", "request rate (requests/s)")
    assert [lv["request_rate"] for lv in serving["levels"]] == [2.5, 10.0]
    # the most requests in flight and the late arrivals are rows of the table, the rates its columns
    assert serving["measures"][:1] == ["concurrency"] and "delayed_requests" in serving["measures"]
    text = page.read_text()
    assert "<th>request rate (requests/s)</th>" in text and 'data-key="serving.levels.1.request_rate"' in text
    assert (page.parent / "serving.png").is_file()
