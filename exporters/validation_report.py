"""The validation report of an export: does the ONNX graph compute what PyTorch computes, what does
INT8 cost in accuracy, and what does it buy in size and speed.

Measures, on the validation windows (exporters.validation_text):
- logits relative error of the FP32 graph against PyTorch: max |onnx - torch| / max |torch| over
  the real (unpadded) positions of a left-padded prefill of two windows and of one cached step;
- perplexity of PyTorch, the FP32 graph and the INT8 graph, and the INT8 delta in percent;
- top-1 next-token agreement of INT8 with FP32 over every scored position;
- greedy tokens of the FP32 (and INT8) graph against PyTorch `generate(do_sample=False)` for a
  left-padded batch of two prompts;
- latency per generated token with the key/value cache (batch 1, median of the timed steps after a
  warm-up, the engines taking turns) for PyTorch eager, the FP32 graph and the INT8 graph, on this
  machine, with the machine's load average beside it (other work on the cores slows PyTorch's
  OpenMP threads far more than ONNX Runtime's);
- file sizes.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch

from fullchain.exporters import kv_decoding
from fullchain.exporters.config import ValidationConfig

PROMPT_TOKENS = (12, 7)  # two prompt lengths, so the batch is left-padded
WARMUP_STEPS = 4
LATENCY_ROUNDS = 4


def logits_rel_error(model: Any, run: kv_decoding.Run, spec: kv_decoding.DecoderSpec,
                     windows: Sequence[Sequence[int]]) -> float:
    """max |onnx - torch| / max |torch| of the logits over real positions: a left-padded prefill of two
    prompts, then one cached step of one token per row."""
    prompts = _prompts(windows)
    feeds = kv_decoding.prefill_feeds(spec, prompts)
    onnx_out = run(feeds)
    with torch.no_grad():
        torch_out = model(input_ids=torch.from_numpy(feeds["input_ids"]),
                          attention_mask=torch.from_numpy(feeds["attention_mask"]),
                          position_ids=torch.from_numpy(feeds["position_ids"]), use_cache=True)
    real = feeds["attention_mask"] == 1
    errors = [_rel_error(onnx_out["logits"][real], torch_out.logits.numpy()[real])]
    step_ids = np.array([[w[len(p)]] for w, p in zip(windows, prompts)], dtype=np.int64)
    mask = np.concatenate([feeds["attention_mask"], np.ones((2, 1), dtype=np.int64)], axis=1)
    step = {"input_ids": step_ids, "attention_mask": mask,
            "position_ids": feeds["attention_mask"].sum(axis=1, keepdims=True)}
    for i in range(spec.num_layers):
        for kind in ("key", "value"):
            step[f"past_key_values.{i}.{kind}"] = onnx_out[f"present.{i}.{kind}"]
    onnx_step = run(step)
    with torch.no_grad():
        torch_step = model(input_ids=torch.from_numpy(step_ids), attention_mask=torch.from_numpy(mask),
                           position_ids=torch.from_numpy(step["position_ids"]),
                           past_key_values=torch_out.past_key_values, use_cache=True)
    errors.append(_rel_error(onnx_step["logits"], torch_step.logits.numpy()))
    return max(errors)


def window_scores(logits_of: Callable[[list[int]], np.ndarray],
                  windows: Sequence[Sequence[int]]) -> tuple[float, np.ndarray]:
    """(perplexity over all windows, top-1 predictions concatenated); `logits_of(window)` gives the
    logits [seq, V] of one window."""
    nll, count, top1 = 0.0, 0, []
    for window in windows:
        logits = logits_of(list(window))[:-1].astype(np.float64)
        targets = np.asarray(window[1:])
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        nll -= float(log_probs[np.arange(len(targets)), targets].sum())
        count += len(targets)
        top1.append(logits.argmax(axis=-1))
    return float(np.exp(nll / count)), np.concatenate(top1)


def onnx_logits(run: kv_decoding.Run, spec: kv_decoding.DecoderSpec) -> Callable[[list[int]], np.ndarray]:
    """Window logits from a graph: one prefill call with an empty cache."""
    return lambda window: run(kv_decoding.prefill_feeds(spec, [window]))["logits"][0]


def torch_logits(model: Any) -> Callable[[list[int]], np.ndarray]:
    """Window logits from the PyTorch model."""
    def logits_of(window: list[int]) -> np.ndarray:
        with torch.no_grad():
            return model(input_ids=torch.tensor([window]), use_cache=False).logits[0].numpy()

    return logits_of


def greedy_tokens_onnx(run: kv_decoding.Run, spec: kv_decoding.DecoderSpec, prompts: list[list[int]],
                       new_tokens: int, stop: Sequence[int]) -> list[list[int]]:
    """Greedy continuations of a batch of prompts from a graph."""
    params = kv_decoding.SamplingParams(max_tokens=new_tokens, stop_token_ids=tuple(stop))
    return [g.tokens for g in kv_decoding.generate(run, spec, prompts, params)]


def greedy_tokens_torch(model: Any, prompts: list[list[int]], new_tokens: int, pad: int,
                        stop: Sequence[int]) -> list[list[int]]:
    """Greedy continuations from transformers `generate(do_sample=False)` on the left-padded batch,
    cut before the first stop token (kv_decoding does not return it)."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=new_tokens,
                             min_new_tokens=0, pad_token_id=pad, eos_token_id=list(stop) or None)
    results = []
    for row in out[:, width:].tolist():
        cut = next((i for i, t in enumerate(row) if t in stop), len(row))
        results.append(row[:cut])
    return results


def onnx_step_times(run: kv_decoding.Run, spec: kv_decoding.DecoderSpec, prompt: list[int],
                    steps: int) -> list[float]:
    """Milliseconds of each of `steps` cached generation steps of a graph, batch 1 (prefill not counted)."""
    times: list[float] = []

    def timed(feeds: dict) -> dict:
        start = time.perf_counter()
        outputs = run(feeds)
        times.append(1000 * (time.perf_counter() - start))
        return outputs

    kv_decoding.generate(timed, spec, [prompt], kv_decoding.SamplingParams(max_tokens=steps + 1))
    return times[1:]


def torch_step_times(model: Any, prompt: list[int], steps: int) -> list[float]:
    """Milliseconds of each of `steps` cached generation steps of PyTorch eager with its DynamicCache."""
    times = []
    with torch.no_grad():
        out = model(input_ids=torch.tensor([prompt]), use_cache=True)
        for _ in range(steps):
            token = out.logits[:, -1:].argmax(-1)
            start = time.perf_counter()
            out = model(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
            times.append(1000 * (time.perf_counter() - start))
    return times


def latencies(engines: dict[str, Callable[[int], list[float]]], steps: int) -> dict[str, float]:
    """Median milliseconds per token of each engine (`engine(n)` times n steps). The engines take
    turns in LATENCY_ROUNDS rounds after a warm-up, so a change in the machine's load during the
    measurement falls on all of them alike."""
    for engine in engines.values():
        engine(WARMUP_STEPS)
    times: dict[str, list[float]] = {name: [] for name in engines}
    per_round = max(1, -(-steps // LATENCY_ROUNDS))
    for _ in range(LATENCY_ROUNDS):
        for name, engine in engines.items():
            times[name] += engine(per_round)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(model: Any, fp32_run: kv_decoding.Run, int8_run: kv_decoding.Run | None,
            spec: kv_decoding.DecoderSpec, windows: Sequence[Sequence[int]], stop: Sequence[int],
            config: ValidationConfig, progress: Callable[[str], None], quantized: str = "INT8") -> dict[str, Any]:
    """Every measurement of the report (see the module docstring), as a JSON-ready dict; the checks
    against the configured bounds are in `checks`. `int8_run` is the quantized graph, INT8 or INT4
    (`quantized` names it); its figures keep the `int8` keys, so readers of the report need no
    second set."""
    progress("validation: logits of the FP32 graph against PyTorch")
    rel_error = logits_rel_error(model, fp32_run, spec, windows)
    progress(f"validation: perplexity on {len(windows)} windows of {len(windows[0])} tokens")
    ppl_torch, _ = window_scores(torch_logits(model), windows)
    ppl_fp32, top1_fp32 = window_scores(onnx_logits(fp32_run, spec), windows)
    prompts = _prompts(windows)
    new_tokens = config.greedy_tokens
    if spec.max_positions is not None:
        # kv_decoding stops at the model's last position; generate() would run past it
        new_tokens = min(new_tokens, spec.max_positions - max(len(p) for p in prompts))
    progress("validation: greedy generation, PyTorch and ONNX")
    torch_greedy = greedy_tokens_torch(model, prompts, new_tokens, spec.pad_token_id, stop)
    fp32_greedy = greedy_tokens_onnx(fp32_run, spec, prompts, new_tokens, stop)
    engines = {"pytorch_eager": lambda n: torch_step_times(model, prompts[0], n),
               "onnx_fp32": lambda n: onnx_step_times(fp32_run, spec, prompts[0], n)}
    report: dict[str, Any] = {
        "logits_rel_error": rel_error,
        "perplexity": {"pytorch": ppl_torch, "onnx_fp32": ppl_fp32},
        "greedy": {"prompts": prompts, "pytorch": torch_greedy, "onnx_fp32": fp32_greedy,
                   "onnx_fp32_equal": fp32_greedy == torch_greedy},
    }
    checks = {"logits_rel_error": {"value": rel_error, "bound": config.max_logits_rel_error,
                                   "passed": rel_error < config.max_logits_rel_error},
              "greedy_equal": {"value": fp32_greedy == torch_greedy, "bound": True,
                               "passed": fp32_greedy == torch_greedy}}
    if int8_run is not None:
        progress(f"validation: the {quantized} graph (perplexity, top-1 agreement, greedy)")
        ppl_int8, top1_int8 = window_scores(onnx_logits(int8_run, spec), windows)
        delta = 100.0 * (ppl_int8 - ppl_fp32) / ppl_fp32
        int8_greedy = greedy_tokens_onnx(int8_run, spec, prompts, new_tokens, stop)
        report["perplexity"].update({"onnx_int8": ppl_int8, "int8_delta_pct": delta})
        report["top1_agreement_int8_fp32"] = float((top1_int8 == top1_fp32).mean())
        report["greedy"].update({"onnx_int8": int8_greedy, "onnx_int8_equal": int8_greedy == torch_greedy})
        engines["onnx_int8"] = lambda n: onnx_step_times(int8_run, spec, prompts[0], n)
        bound = config.max_int4_ppl_delta_pct if quantized == "INT4" else config.max_ppl_delta_pct
        checks["int8_ppl_delta_pct"] = {"value": delta, "bound": bound, "passed": delta <= bound}
    progress(f"validation: latency over {config.latency_tokens} cached steps per engine")
    report["latency_ms_per_token"] = latencies(engines, config.latency_tokens)
    report["machine"] = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                         "load_average_1m": os.getloadavg()[0]}
    report["quantized"] = quantized if int8_run is not None else None
    report["checks"] = checks
    report["passed"] = all(c["passed"] for c in checks.values())
    return report


def failures(report: dict[str, Any]) -> list[str]:
    """One phrase per failed check, e.g. 'INT8 perplexity +3.10% over FP32 (bound 2.00%)'."""
    name = report.get("quantized") or "INT8"
    phrases = {
        "logits_rel_error": lambda c: f"FP32 ONNX logits differ from PyTorch by {c['value']:.2e} relative "
                                      f"(bound {c['bound']:.0e})",
        "greedy_equal": lambda c: "FP32 ONNX greedy tokens differ from PyTorch generate()",
        "int8_ppl_delta_pct": lambda c: f"{name} perplexity {c['value']:+.2f}% over FP32 (bound {c['bound']:.2f}%)",
    }
    return [phrases[name](check) for name, check in report["checks"].items() if not check["passed"]]


def table(report: dict[str, Any]) -> str:
    """A short text table of the report's figures, for the terminal and report.md."""
    ppl, latency, sizes = report["perplexity"], report["latency_ms_per_token"], report["sizes_bytes"]
    name = report.get("quantized") or "INT8"
    rows = [("", "PyTorch", "ONNX FP32", f"ONNX {name}"),
            ("perplexity", _num(ppl.get("pytorch")), _num(ppl.get("onnx_fp32")), _num(ppl.get("onnx_int8"))),
            ("ms / token (KV cache, batch 1)", _num(latency.get("pytorch_eager")), _num(latency.get("onnx_fp32")),
             _num(latency.get("onnx_int8"))),
            ("size MB", _mb(sizes.get("pytorch")), _mb(sizes.get("onnx_fp32")), _mb(sizes.get("onnx_int8")))]
    lines = [f"{a:<32}{b:>12}{c:>12}{d:>12}" for a, b, c, d in rows]
    lines.append(f"FP32 logits max rel. error vs PyTorch: {report['logits_rel_error']:.2e}")
    if "int8_delta_pct" in ppl:
        lines.append(f"{name} perplexity delta: {ppl['int8_delta_pct']:+.2f}%   top-1 agreement {name}/FP32: "
                     f"{100 * report['top1_agreement_int8_fp32']:.1f}%")
    greedy = report["greedy"]
    lines.append(f"greedy tokens equal to PyTorch: FP32 {greedy['onnx_fp32_equal']}"
                 + (f", {name} {greedy['onnx_int8_equal']}" if "onnx_int8_equal" in greedy else ""))
    machine = report["machine"]
    lines.append(f"latency on {machine['cpus']} CPUs, {machine['torch_threads']} torch threads, load average "
                 f"{machine['load_average_1m']:.2f}")
    lines.append(f"validation text: {report['validation_text']}")
    lines.append("checks: " + ("passed" if report["passed"] else "FAILED: " + "; ".join(failures(report))))
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """report.md: the table, what each figure means, and the checks."""
    checks = "\n".join(f"| {name} | {check['value']} | {check['bound']} | {'yes' if check['passed'] else 'NO'} |"
                       for name, check in report["checks"].items())
    return (f"# Export validation report\n\nModel: `{report['source']}`, served precision "
            f"**{report['precision']}**.\n\n```\n{table(report)}\n```\n\n"
            "## Checks\n\n| check | value | bound | passed |\n|---|---|---|---|\n" + checks + "\n\n"
            "## What the figures mean\n\n"
            "- *logits max rel. error*: max |ONNX - PyTorch| / max |PyTorch| over the real positions of a "
            "left-padded prefill and one cached step. Above the bound the graph does not compute the model.\n"
            "- *perplexity*: exp(mean negative log-likelihood) of the next token over the validation windows; "
            "the INT8 delta is (INT8 - FP32) / FP32. On a random-weight model it means nothing.\n"
            "- *top-1 agreement*: share of positions where INT8 and FP32 predict the same next token.\n"
            "- *ms / token*: median time of one generation step with the key/value cache, batch 1, on the "
            "machine that ran the export (PyTorch eager with its DynamicCache; ONNX Runtime CPU).\n"
            "- *greedy tokens equal*: the graph's greedy continuation of a left-padded batch of two prompts "
            "equals PyTorch `generate(do_sample=False)`.\n")


def _prompts(windows: Sequence[Sequence[int]]) -> list[list[int]]:
    """Two prompts of different lengths (from the first windows), so batches are left-padded."""
    second = windows[1] if len(windows) > 1 else windows[0]
    return [list(windows[0][: PROMPT_TOKENS[0]]), list(second[: PROMPT_TOKENS[1]])]


def _rel_error(actual: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(actual - reference).max() / max(np.abs(reference).max(), 1e-30))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 100 else f"{value:,.1f}"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}"
