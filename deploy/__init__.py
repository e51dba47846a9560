"""fullchain deploy stage: serve an export with Triton Inference Server (docs/SERVING.md).

- config.py: the typed configs of publish, serve, generate and loadtest (and the default ports)
- triton_config.py: the config.pbtxt texts of the ONNX model and the generation models
- repository.py: publishing an export as a new version (local folder or fsspec URL)
- server.py: running the nvidia-pytriton wheel's tritonserver
- client.py: generation requests over HTTP or gRPC; loadtest.py: the load test
- cli.py: the four commands
- triton_models/generate/: the Python-backend generation model, model.py and its request checks
  request_checks.py (both copied into repositories by publish)
- openai_front/: the OpenAI-compatible HTTP front (FastAPI) that `serve --openai-port` runs beside Triton
- k8s/: Kubernetes manifests for the NGC image (Triton and the OpenAI front), autoscaler, Grafana dashboard
"""
