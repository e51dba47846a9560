"""Reading the Prometheus metrics of a running ServingStack in tests: tritonserver's (with
`<name>_llm`'s own gauges) and the OpenAI front's."""

import time
import urllib.request


def closed_requests(stack):
    """The front's count of completions whose client left (status 499), and its whole /metrics text."""
    metrics = urllib.request.urlopen(stack.openai_url[:-3] + "/metrics", timeout=10).read().decode()
    line = 'fullchain_openai_requests_total{endpoint="completions",status="499"} '
    return sum(float(m.split()[-1]) for m in metrics.splitlines() if m.startswith(line)), metrics


def llm_metric(triton, name, model="tinyq_llm"):
    """The value of `<name>_llm`'s metric `fullchain_llm_<name>` on the running TritonServer's /metrics."""
    host = triton.http_url.rsplit(":", 1)[0]
    text = urllib.request.urlopen(f"{host}:{triton.cfg.metrics_port}/metrics", timeout=10).read().decode()
    (value,) = [float(line.split()[-1]) for line in text.splitlines()
                if line.startswith(f"fullchain_llm_{name}{{") and f'model="{model}"' in line]
    return value


def wait_for(condition, timeout_s=30):
    """Return once `condition()` is true; fail the test after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def exposed_metrics(url):
    """The metric names with a sample on the Prometheus endpoint `url`."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}
