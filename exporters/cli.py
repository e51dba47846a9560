"""`fullchain export HF_DIR --output EXPORT_DIR`: parse the flags, run the export, print the report table."""

from __future__ import annotations

import argparse
import json
import sys
import time

from fullchain.pipelines.config import add_config_flags, run_command
from fullchain.exporters.config import ExportConfig
from fullchain.exporters.hf_folder import ExportError

DESCRIPTION = ("Export a Hugging Face Llama-architecture causal LM to ONNX with a key/value cache (FP32 and INT8), "
               "validate it against PyTorch, and write the export folder (docs/CONTRACTS.md section 6).")


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of `fullchain export`, one flag per ExportConfig option."""
    parser = argparse.ArgumentParser(prog=f"fullchain {command}", description=DESCRIPTION,
                                     usage=f"fullchain {command} HF_DIR --output EXPORT_DIR [--config YAML] [OPTIONS]")
    parser.add_argument("hf_dir", metavar="HF_DIR", help="Hugging Face model folder (config.json, "
                                                         "model.safetensors, tokenizer files).")
    parser.add_argument("--output", required=True, metavar="EXPORT_DIR", help="Export folder to write.")
    parser.add_argument("--config", metavar="YAML", help="Export config file; flags override its values.")
    add_config_flags(parser, ExportConfig)
    return parser


def _export(args: argparse.Namespace, config: ExportConfig) -> int:
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # torch, transformers and ONNX Runtime load only once the flags are known to be good
    from fullchain.pipelines.hf_loading import quiet_model_loading
    from fullchain.exporters.export import export_model
    from fullchain.exporters.validation_report import table

    quiet_model_loading()
    folder = export_model(args.hf_dir, args.output, config, progress=progress)
    with open(folder / "report.json", encoding="utf-8") as fh:
        print(table(json.load(fh)))
    print(f"output: {folder} ({time.perf_counter() - started:.1f}s)")
    return 0


def main(command: str, argv: list[str]) -> int:
    """Entry point of `fullchain export`; returns the exit status (2 with one line on stderr for a
    bad config, an unusable model folder or output, or a failed validation check)."""
    return run_command(f"fullchain {command}", build_parser(command), ExportConfig, _export, argv,
                       failures={ExportError: 2})
