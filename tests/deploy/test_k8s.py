"""The Kubernetes manifests agree with the ports, paths and model names the code uses; the OpenAI
front's container, the autoscaler and the Prometheus adapter's rules agree with each other. (That
the Grafana dashboard's and the adapter's queries name metrics the servers really expose is checked
against running servers in tests/deploy/test_openai_serving.py.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fullchain.deploy.config import (
    ADMIN_HEADER, ADMIN_KEY_ENV, GRPC_PORT, HTTP_PORT, METRICS_PORT, OPENAI_PORT, PublishConfig,
)
from fullchain.deploy.openai_front.api_keys import API_KEYS_ENV
from fullchain.deploy.openai_front.cli import build_parser as front_parser
from fullchain.deploy.server import (
    LIVE_PATH, METRICS_PATH, MODEL_READY_PATH, SERVER_STACK_BYTES, SITE_PACKAGES_ENV, restricted_api_flags,
)
from fullchain.deploy.triton_config import generation_models

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
PORTS = {"http": HTTP_PORT, "grpc": GRPC_PORT, "metrics": METRICS_PORT}


@pytest.fixture(scope="module")
def manifests():
    # prometheus-adapter-values.yaml is Helm values, not a manifest
    docs = [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d and "kind" in d]
    return {d["kind"]: d for d in docs}


@pytest.fixture(scope="module")
def pod(manifests):
    return manifests["Deployment"]["spec"]["template"]


@pytest.fixture(scope="module")
def triton(pod):
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "triton"]
    return container


def flags(container):
    return dict(a.split("=", 1) for a in container["args"] if a.startswith("--") and a != "--load-model")


def test_manifests_are_the_expected_kinds(manifests):
    assert set(manifests) == {"Deployment", "Service", "ServiceMonitor", "HorizontalPodAutoscaler"}


def test_ports_are_the_servers_ports(manifests, triton):
    assert {p["name"]: p["containerPort"] for p in triton["ports"]} == PORTS
    args = flags(triton)
    assert (int(args["--http-port"]), int(args["--grpc-port"]), int(args["--metrics-port"])) == \
        (HTTP_PORT, GRPC_PORT, METRICS_PORT)
    service = manifests["Service"]["spec"]
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["ports"]} == \
        {n: (v, n) for n, v in {**PORTS, "openai": OPENAI_PORT}.items()}


def test_probes_use_the_health_endpoints(triton):
    assert triton["livenessProbe"]["httpGet"] == {"path": LIVE_PATH, "port": "http"}


def test_readiness_is_that_of_every_loaded_model(triton):
    # a failed load of some other model must not take the pod out of the Service
    assert flags(triton)["--strict-readiness"] == "false"
    command = triton["readinessProbe"]["exec"]["command"]
    assert command[:2] == ["python3", "-c"]
    assert command[3] == f"http://127.0.0.1:{HTTP_PORT}{MODEL_READY_PATH}"
    loaded = [a.split("=", 1)[1] for a in triton["args"] if a.startswith("--load-model=")]
    assert command[4:] == loaded


def test_the_probe_fails_when_one_model_is_not_ready(triton, tmp_path):
    import http.server
    import subprocess
    import sys
    import threading

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(400 if "llm_generate_cached" in self.path else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        command = triton["readinessProbe"]["exec"]["command"]
        url = command[3].replace(f":{HTTP_PORT}", f":{server.server_port}")
        probe = [sys.executable, "-c", command[2], url]
        assert subprocess.run(probe + ["llm", "llm_generate"], capture_output=True).returncode == 0
        assert subprocess.run(probe + command[4:], capture_output=True).returncode != 0
    finally:
        server.shutdown()


def test_state_changing_apis_need_the_key_from_a_secret(triton):
    key = f"$({ADMIN_KEY_ENV})"
    assert [a for a in triton["args"] if "restricted" in a] == restricted_api_flags(key)
    (env,) = [e for e in triton["env"] if e["name"] == ADMIN_KEY_ENV]
    assert env["valueFrom"]["secretKeyRef"] == {"name": ADMIN_HEADER, "key": "key"}


def test_prometheus_finds_the_metrics(manifests, pod):
    for annotations in (pod["metadata"]["annotations"], manifests["Service"]["metadata"]["annotations"]):
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(METRICS_PORT)
        assert annotations["prometheus.io/path"] == METRICS_PATH
    endpoints = manifests["ServiceMonitor"]["spec"]["endpoints"]
    assert [(e["port"], e["path"]) for e in endpoints] == [("metrics", METRICS_PATH), ("openai", METRICS_PATH)]


def test_selectors_match_the_pod(manifests, pod):
    labels = pod["metadata"]["labels"]
    assert manifests["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    assert manifests["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items() <= \
        manifests["Service"]["metadata"]["labels"].items()


def test_ngc_image_object_storage_and_explicit_model_control(triton):
    assert triton["image"].startswith("nvcr.io/nvidia/tritonserver:")
    args = flags(triton)
    assert args["--model-repository"].startswith("s3://")
    assert args["--model-control-mode"] == "explicit"
    assert args["--cache-config"].startswith("local,size=")


def test_loads_every_model_publish_writes(triton):
    loaded = [a.split("=", 1)[1] for a in triton["args"] if a.startswith("--load-model=")]
    assert loaded == ["llm", *generation_models("llm", PublishConfig(name="llm"))]


def test_gpu_resources(triton):
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert triton["resources"]["requests"]["nvidia.com/gpu"] == 1


def test_tokenizers_reach_the_python_backend(pod, triton):
    (init,) = pod["spec"]["initContainers"]
    target = init["command"][init["command"].index("--target") + 1]
    assert any(c.startswith("tokenizers") for c in init["command"])
    assert {e["name"]: e.get("value") for e in triton["env"]}[SITE_PACKAGES_ENV] == target
    mounts = {m["name"]: m["mountPath"] for m in triton["volumeMounts"]}
    assert {m["name"]: m["mountPath"] for m in init["volumeMounts"]} == mounts
    assert target in mounts.values()


def test_the_container_starts_tritonserver_with_large_stacks_and_its_args_intact(triton, tmp_path):
    # the command runs in the image's sh; a stand-in tritonserver reports its stack limit and arguments
    stand_in = tmp_path / "tritonserver"
    stand_in.write_text('#!/bin/sh\nulimit -s\nprintf "%s\\n" "$@"\n')
    stand_in.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    args = [a.replace(f"$({ADMIN_KEY_ENV})", "k") for a in triton["args"]]
    out = subprocess.run(triton["command"] + args, env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    stack_kib, *passed = out.stdout.splitlines()
    assert int(stack_kib) * 1024 == SERVER_STACK_BYTES
    assert passed == args


@pytest.fixture(scope="module")
def front(pod):
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "openai-front"]
    return container


def test_the_front_container_runs_the_front_against_the_triton_container(front, triton):
    assert front["command"] == ["python3", "-m", "fullchain.deploy.openai_front"]
    args = front_parser().parse_args(front["args"])  # every arg is a flag of the front's config
    assert getattr(args, "triton_url") == f"127.0.0.1:{GRPC_PORT}"
    assert getattr(args, "repository") == flags(triton)["--model-repository"]
    assert int(getattr(args, "port")) == OPENAI_PORT and getattr(args, "address") == "0.0.0.0"
    loaded = [a.split("=", 1)[1] for a in triton["args"] if a.startswith("--load-model=")]
    assert getattr(args, "model") in loaded
    assert {p["name"]: p["containerPort"] for p in front["ports"]} == {"openai": OPENAI_PORT}
    assert front["readinessProbe"]["httpGet"] == {"path": "/health", "port": "openai"}


def test_the_fronts_keys_come_from_a_secret_not_the_args(front):
    (env,) = [e for e in front["env"] if e["name"] == API_KEYS_ENV]
    assert env["valueFrom"]["secretKeyRef"]["name"] == "fullchain-openai-api-keys"
    assert not any("key" in a for a in front["args"])


def test_the_fronts_image_is_the_triton_image_plus_the_front(triton):
    dockerfile = (K8S / "Dockerfile").read_text()
    (base,) = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert base == triton["image"]
    for package in ("fastapi", "uvicorn", "prometheus-client", "tritonclient[grpc]", "tokenizers", "jinja2"):
        assert package in dockerfile


def test_the_front_imports_without_the_training_stack():
    # the Dockerfile installs fullchain with --no-deps: the front must not need torch, Beam, ONNX Runtime...
    blocked = ["torch", "apache_beam", "deepspeed", "transformers", "onnxruntime", "onnx", "pyarrow", "lm_eval"]
    code = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {blocked!r}:\n            raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\nimport fullchain.deploy.openai_front.cli\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_autoscaler_scales_the_deployment_on_the_adapters_metrics(manifests):
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    deployment = manifests["Deployment"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": deployment["metadata"]["name"]}
    assert 1 <= hpa["minReplicas"] < hpa["maxReplicas"]
    rules = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text())["rules"]["custom"]
    served = {r["name"]["as"] for r in rules}
    assert {m["pods"]["metric"]["name"] for m in hpa["metrics"]} == served
    for rule in rules:
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        assert "<<.LabelMatchers>>" in rule["metricsQuery"] and "<<.GroupBy>>" in rule["metricsQuery"]
    # both of Triton's queues: its own (dynamically batched models) and <name>_llm's scheduler's,
    # which Triton's queue time cannot see (that model's execute only enqueues)
    assert {r["seriesQuery"].split("{")[0] for r in rules} == {
        "nv_inference_queue_duration_us", "fullchain_llm_waiting_requests"}
