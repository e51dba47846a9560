"""`fullchain report DIR` as users run it: through the front door, one line on a bad DIR."""

from __future__ import annotations

import os

from fullchain.cli import main
from tests.report.run_folder import write_run


def test_report_command_writes_the_page_and_names_it(tmp_path, capsys):
    run = write_run(str(tmp_path / "run"), stages="data")
    assert main(["report", run, "--example-clusters", "1"]) == 0
    out = capsys.readouterr().out
    assert f"report: {os.path.join(run, 'report', 'index.html')}" in out
    assert "planted       6 of 7 caught" in out and "export        did not run" in out
    assert os.path.isfile(os.path.join(run, "report", "summary.json"))


def test_report_command_refuses_a_missing_folder_in_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fullchain report: error: ") and "not a folder" in err and "\n" not in err
