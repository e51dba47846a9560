"""A real Prometheus scraping a running ServingStack, so the tests evaluate the queries of the Grafana
dashboard and of prometheus-adapter (deploy/k8s) as a cluster would, not only check their metric
names. The binary is Debian's build, which `make test` unpacks into the venv (no root, no service)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from tests.ports import PortTaken, says_address_in_use

PROMETHEUS = Path(sys.prefix) / "share" / "fullchain-prometheus" / "usr" / "bin" / "prometheus"
SCRAPE_INTERVAL_S = 1
# the labels a pod's series carry in a cluster (the ServiceMonitor's relabelling), which the
# adapter's rules select and group by
POD_LABELS = {"namespace": "fullchain", "pod": "triton-0"}
READY_TIMEOUT_S = 30


class Prometheus:
    """A Prometheus process scraping `targets` (host:port, path /metrics) every second with POD_LABELS."""

    def __init__(self, targets: list[str], folder: Path, port: int):
        self.url = f"http://127.0.0.1:{port}"
        config = {"global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s"},
                  "scrape_configs": [{"job_name": f"target-{i}", "static_configs": [
                      {"targets": [target], "labels": POD_LABELS}]} for i, target in enumerate(targets)]}
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = folder / f"prometheus-{port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={folder / 'prometheus.yml'}",
                 f"--storage.tsdb.path={folder / f'data-{port}'}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready():
            if self.process.poll() is not None:
                text = self.log_path.read_text(errors="replace")
                if says_address_in_use(text):
                    raise PortTaken(f"port {port}: {text[-500:]}")
                raise AssertionError(f"prometheus exited with status {self.process.returncode}: {text[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"prometheus not ready after {READY_TIMEOUT_S} s (log: {self.log_path})")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            return urllib.request.urlopen(self.url + "/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def query(self, expr: str) -> list[dict]:
        """The instant vector of `expr` now: [{"metric": labels, "value": [time, "text"]}]; fails the
        test with Prometheus's error when the query does not parse or evaluate."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = json.loads(urllib.request.urlopen(url, timeout=10).read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{expr}: {e.read().decode(errors='replace')}") from e
        assert body["status"] == "success" and body["data"]["resultType"] == "vector", (expr, body)
        return body["data"]["result"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def __enter__(self) -> "Prometheus":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def adapter_query(template: str, group_by: str = "pod") -> str:
    """A prometheus-adapter metricsQuery as the adapter renders it for the HPA's request of one pod's
    metric: <<.LabelMatchers>> selects the namespace and the pods, <<.GroupBy>> is the resource."""
    query = (template.replace("<<.LabelMatchers>>", f'namespace="{POD_LABELS["namespace"]}",pod=~"{POD_LABELS["pod"]}"')
             .replace("<<.GroupBy>>", group_by))
    assert "<<" not in query, f"template field this helper does not render: {query}"
    return query


def dashboard_query(expr: str, rate_interval: str = "30s") -> str:
    """A Grafana panel's expression with Grafana's $__rate_interval given (Grafana makes it at least four
    scrape intervals; 30 s spans this test's traffic)."""
    query = expr.replace("$__rate_interval", rate_interval)
    assert not re.search(r"\$\w", query), f"Grafana variable this helper does not give: {query}"
    return query
