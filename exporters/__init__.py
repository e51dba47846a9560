"""fullchain.exporters (`fullchain export`): an HF causal LM folder to an export folder: an ONNX
graph with a key/value cache, FP32 and INT8, validated against PyTorch (docs/CONTRACTS.md section 6).

- cli.py: the command; config.py: ExportConfig
- hf_folder.py: the HF folder checked before any work, then loaded; ExportError
- onnx_graph.py: the decoder as an ONNX graph with flat cache inputs/outputs; quantize.py: INT8
- export.py: `export_model`, the order of the steps and the folder written atomically
- validation_text.py: the windows scored (a shard output's val split, or built-in text)
- validation_report.py: ONNX against PyTorch, what INT8 costs and buys
- kv_decoding.py: numpy-only generation over the graph (copied into Triton models by publish)
"""
