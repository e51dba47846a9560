"""`fullchain eval MODEL [MODEL...] --tasks ... --output DIR`: parse the flags, evaluate, print the table."""

from __future__ import annotations

import argparse
import sys
import time

from fullchain.evaluation.config import EvalConfig
from fullchain.pipelines.config import add_config_flags, run_command

DESCRIPTION = ("Evaluate models with EleutherAI's lm-evaluation-harness on local tasks: an HF folder (PyTorch "
               "FP32), an export folder (its served ONNX graph; EXPORT#fp32 for its FP32 graph) or a served model "
               "(http://HOST:PORT/NAME; grpc://HOST:PORT/NAME scores through NAME_llm). Several MODELs are compared "
               "side by side. See docs/EVALUATION.md.")


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of `fullchain eval`, one flag per EvalConfig option."""
    parser = argparse.ArgumentParser(prog=f"fullchain {command}", description=DESCRIPTION,
                                     usage=f"fullchain {command} MODEL [MODEL...] --output DIR [--tasks T1,T2] "
                                           f"[--config YAML] [OPTIONS]")
    parser.add_argument("models", metavar="MODEL", nargs="+",
                        help="HF folder, export folder (EXPORT or EXPORT#fp32), http://HOST:PORT/NAME or "
                             "grpc://HOST:PORT/NAME.")
    parser.add_argument("--output", required=True, metavar="DIR", help="Folder for results.json, samples and plots.")
    parser.add_argument("--config", metavar="YAML", help="Eval config file; flags override its values.")
    add_config_flags(parser, EvalConfig)
    return parser


def _eval(args: argparse.Namespace, config: EvalConfig) -> int:
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # the harness, torch and ONNX Runtime load only once the flags are known to be good
    from fullchain.evaluation.evaluate import evaluate_models
    from fullchain.pipelines.hf_loading import quiet_model_loading

    quiet_model_loading()
    summary = evaluate_models(args.models, args.output, config, progress=progress)
    print(summary["text"])
    print(f"output: {args.output} ({time.perf_counter() - started:.1f}s)")
    return 0


def main(command: str, argv: list[str]) -> int:
    """Entry point of `fullchain eval`; returns the exit status (2 with one line on stderr for a bad
    config, an unknown task or a wrong task file, a model folder of the wrong kind or an unreachable
    server)."""
    from fullchain.evaluation.evaluate import EvaluationError
    from fullchain.evaluation.harness_lm import BackendError
    from fullchain.evaluation.task_files import TaskFileError

    return run_command(f"fullchain {command}", build_parser(command), EvalConfig, _eval, argv,
                       failures={EvaluationError: 2, BackendError: 2, TaskFileError: 2})
