"""fullchain.report: the run report, DIR/report/index.html and summary.json (issue 12; being written)."""
