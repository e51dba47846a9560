"""fullchain.deploy.openai_front: the OpenAI-compatible HTTP front of a Triton server (docs/SERVING.md).

- api_requests.py: request bodies checked into typed requests (pure); api_errors.py: the OpenAI
  error shape and how Triton's errors map to HTTP statuses; api_responses.py: bodies, chunks, SSE
- chat_template.py: messages rendered with the model's chat template (or the plain one)
- token_scores.py: token texts, offsets and log-probabilities in the API's shapes
- backends.py: the Triton models behind one interface (gRPC streaming): <name>_llm, <name>_generate_stream
- generation.py: a checked request run as one backend stream per choice, into a body or events
- served_models.py: which published models are served, their tokenizer and template from the repository
- api_keys.py: optional Bearer keys; metrics.py: the front's Prometheus metrics
- app.py: the FastAPI routes; config.py: OpenAIFrontConfig; cli.py and __main__.py: running it
"""
