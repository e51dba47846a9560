"""fullchain.report: the run report of a run folder, DIR/report/index.html and summary.json.

- run_layout.py: where each stage's output lies in the run folder, reading its JSON files
- data_summary.py: funnel, planted documents caught, duplicate clusters, perplexity distribution
- model_summary.py: training curves and samples, the export table, the load test, evaluation
- lineage.py: which shards, checkpoint, export and published version the figures belong to
- summary.py: all of them as one dict (summary.json)
- text_diff.py: where a near duplicate differs from its survivor
- figures.py: the PNG figures (matplotlib, Agg) from the summary
- page.py: index.html from the summary (inline style, nothing fetched)
- write.py: write_report(DIR), the whole folder
- config.py, cli.py: ReportConfig and `fullchain report DIR`
"""

__all__ = ["write_report"]


def __getattr__(name: str):
    # matplotlib and pyarrow load on first use of write_report, not when the chain's config
    # validation imports fullchain.report.config
    if name == "write_report":
        from fullchain.report.write import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
