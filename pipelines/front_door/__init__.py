"""fullchain: take a raw text corpus to a served model. Each stage reads and writes files.

The package installs one namespace, `fullchain`, whose subpackages are the project's folders
(setuptools' package-dir mapping in pyproject.toml; the folders stay where the layout puts them):

- fullchain.pipelines (pipelines/): the Beam data stages (clean, dedup, ppl-filter, backtranslate,
  shard, prepare) and what every stage shares (config system, shard format, front door).
- fullchain.trainers (trainers/): the DeepSpeed trainer (dp x pp x tp) and LoRA; writes an HF folder.
- fullchain.exporters (exporters/): ONNX export with a key/value cache, INT8, the validation report.
- fullchain.deploy (deploy/): publish into a Triton repository, serve, clients, load test, Kubernetes.

This package itself (pipelines/front_door/) is the front door, `fullchain` and `python -m fullchain`:
cli.py parses the global options and hands each command to its package's cli.py. docs/ARCHITECTURE.md
shows how the packages fit together.
"""
