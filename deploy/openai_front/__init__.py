"""fullchain.deploy.openai_front: the OpenAI-compatible HTTP front for a served model (issue 14; being written)."""
