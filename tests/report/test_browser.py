"""The report page in a real browser: headless Chromium (Debian's chromium, which `make test`
installs) opens index.html from disk, with no network, and a small script added to a copy of the
page writes what the browser sees into the DOM (`--dump-dom`): every image loaded with a non-zero
natural size, and the text of every value, which must equal summary.json."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

from fullchain.report import write_report
from tests.report.page_checks import shown_value_problem
from tests.report.run_folder import write_run

CHROMIUM = "/usr/bin/chromium"
# what the browser saw, written into the page once it has loaded (images included)
CHECK_SCRIPT = """<pre id="report-checks"></pre><script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({src: i.getAttribute("src"), complete: i.complete,
                                                   width: i.naturalWidth, height: i.naturalHeight}));
  const values = [...document.querySelectorAll("[data-key]")].map(e => ({key: e.dataset.key,
                                                   scale: Number(e.dataset.scale || 1), text: e.textContent}));
  document.getElementById("report-checks").textContent = JSON.stringify({images, values});
});
</script></body>"""


def browser_view(page: str, profile: str) -> dict:
    """What headless Chromium saw of `page`: {"images": [...], "values": [...]}."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (apt-get install chromium)")
    checked = os.path.join(os.path.dirname(page), "browser-check.html")
    with open(page, encoding="utf-8") as fh:
        text = fh.read()
    with open(checked, "w", encoding="utf-8") as fh:
        fh.write(text.replace("</body>", CHECK_SCRIPT))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
         "--dump-dom", f"file://{checked}"], capture_output=True, text=True, timeout=90)
    found = re.search(r'<pre id="report-checks">(.*?)</pre>', result.stdout, re.S)
    assert found and found.group(1), f"chromium wrote no checks (exit {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = write_run(str(tmp_path_factory.mktemp("run") / "run"))
    page = write_report(run)
    with open(page.parent / "summary.json", encoding="utf-8") as fh:
        return str(page), json.load(fh), str(tmp_path_factory.mktemp("chromium-profile"))


def test_chromium_loads_every_figure_and_shows_the_summary_numbers(report):
    page, summary, profile = report
    seen = browser_view(page, profile)
    assert sorted(i["src"] for i in seen["images"]) == sorted(summary["figures"].values())
    assert [i for i in seen["images"] if not (i["complete"] and i["width"] > 0 and i["height"] > 0)] == []
    assert len(seen["values"]) > 150
    problems = [shown_value_problem(summary, v["key"], v["text"], v["scale"]) for v in seen["values"]]
    assert [p for p in problems if p] == []


def test_chromium_check_sees_a_missing_figure(report, tmp_path):
    page, _, profile = report
    copy = tmp_path / "report"
    shutil.copytree(os.path.dirname(page), copy)
    os.remove(copy / "training.png")
    seen = browser_view(str(copy / "index.html"), profile)
    broken = [i["src"] for i in seen["images"] if i["width"] == 0]
    assert broken == ["training.png"]
