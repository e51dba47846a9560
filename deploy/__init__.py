"""fullchain deploy stage: serve an export with Triton Inference Server (docs/SERVING.md).

- config.py: the typed configs of publish, serve, generate and loadtest (and the default ports)
- triton_config.py: the config.pbtxt texts of the ONNX model and the generation models
- repository.py: publishing an export as a new version (local folder or fsspec URL)
- server.py: running the nvidia-pytriton wheel's tritonserver; serving_stack.py: it and the OpenAI
  front as one pair of processes (serve --openai-port)
- client.py: generation requests over HTTP or gRPC, and streams from <name>_llm
- loadtest.py: the load test and its figures; loadtest_drivers.py: one client per worker (Triton or
  OpenAI-compatible); loadtest_prompts.py: prompts cut from the val shards with a length distribution
- continuous_batching.py: the continuous-batching scheduler, and batch_rows.py its running batch's
  key/value rows (numpy only; both copied beside <name>_llm)
- cli.py: the four commands
- triton_models/model_plumbing.py: what every Python-backend model needs of Triton (site-packages,
  the ONNX graph's runner); copied beside each model.py by publish
- triton_models/generate/: the Python-backend generation model, model.py and its request checks
  request_checks.py (both copied into repositories by publish)
- triton_models/llm/: <name>_llm, the decoupled continuous-batching model (model.py runs the scheduler
  in a thread) and its request checks llm_request.py
- openai_front/: the OpenAI-compatible HTTP front (FastAPI) that `serve --openai-port` runs beside Triton
- k8s/: Kubernetes manifests for the NGC image (Triton and the OpenAI front), autoscaler, Grafana dashboard
"""
