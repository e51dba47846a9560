"""`make bench`: every side-by-side benchmark of bench/ in one run, and the generated part of
docs/BENCHMARKS.md rewritten from it.

    .venv/bin/python bench/run_all.py                 # default sizes: under 30 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick         # small sizes, a few minutes: proves the chain of scripts
    .venv/bin/python bench/run_all.py --docs 100000 --export-hidden 1024 --serving-duration-s 60   # bigger

Each row is a ratio of two sides measured by one bench script in this run on this machine (the
scripts interleave the sides or run them back to back, so load from other work falls on both):

- dedup against datatrove's MinHash dedup (bench/bench_datatrove.py: same corpus, 5-grams,
  14 bands x 8 rows, same worker processes; documents/s, precision and recall on planted duplicates);
- clean against langdetect alone on the same documents (bench/bench_clean_langid.py);
- training: `fullchain train`'s DeepSpeed engine against a plain PyTorch loop, same model and batches
  (bench/bench_trainer.py);
- export: ONNX Runtime (FP32, INT8) against PyTorch eager per generated token (bench/bench_export.py);
- serving: Triton with dynamic batching against one request per execution (bench/bench_serving.py).

The scripts' JSON lands in --output (rows.json: every row; `--only NAME` reruns one bench and keeps
the other rows of the last run, each with the time it was measured); docs/BENCHMARKS.md keeps everything outside the markers
`<!-- make bench: begin -->` and `<!-- make bench: end -->` (the hand-written sections), and the
part between them is replaced (appended at the end the first time). A script that is missing or
fails gets a row saying so, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
BEGIN, END = "<!-- make bench: begin -->", "<!-- make bench: end -->"
# each script gets at most this long; the defaults of all of them together fit in 30 minutes on 2 cores
SCRIPT_TIMEOUT_S = 20 * 60


@dataclass
class Row:
    """One line of the generated table: what was compared, both sides, their ratio, how it was made."""

    comparison: str
    ours: str
    baseline: str
    ratio: str
    command: str
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    bench: str = ""
    measured: str = ""  # when the script finished, UTC


@dataclass
class Bench:
    """A bench script run for one row: its argv (after the script path) and how its JSON becomes a Row."""

    name: str
    comparison: str
    script: str
    argv: Callable[[argparse.Namespace, str], list[str]]
    row: Callable[[dict[str, Any]], tuple[str, str, str]]
    # where the script writes its JSON, from the output folder (the scripts differ)
    json_path: Callable[[str], str] = lambda out: os.path.join(out, "result.json")
    # scripts that print their figures instead of writing JSON: stdout -> figures
    parse_stdout: Callable[[str], dict[str, Any]] | None = None


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _dedup_row(r: dict[str, Any]) -> tuple[str, str, str]:
    def side(s: dict[str, Any]) -> str:
        quality = "".join(f", {name} {s[name]:.3f}" for name in ("precision", "recall") if name in s)
        return f"{s['docs_per_s']:,.0f} docs/s, {s['removed']:,} removed{quality}"

    ours, theirs = r["fullchain"], r["datatrove"]
    return side(ours), side(theirs), _x(ours["docs_per_s"] / theirs["docs_per_s"])


def _clean_stdout(text: str) -> dict[str, Any]:
    rates = {name: float(value.replace(",", "")) for name, value in
             re.findall(r"^(langdetect alone|clean)\s+([\d,.]+) docs/s", text, re.M)}
    if set(rates) != {"langdetect alone", "clean"}:
        raise ValueError("bench_clean_langid.py printed no 'clean' and 'langdetect alone' docs/s lines")
    return {"clean_docs_per_s": rates["clean"], "langdetect_docs_per_s": rates["langdetect alone"]}


def _clean_row(r: dict[str, Any]) -> tuple[str, str, str]:
    return (f"{r['clean_docs_per_s']:,.0f} docs/s (whole cleaner)", f"{r['langdetect_docs_per_s']:,.0f} docs/s",
            _x(r["clean_docs_per_s"] / r["langdetect_docs_per_s"]))


def _trainer_row(r: dict[str, Any]) -> tuple[str, str, str]:
    return (f"{r['deepspeed_tokens_per_s']:,.0f} tokens/s", f"{r['plain_tokens_per_s']:,.0f} tokens/s",
            f"{_x(r['deepspeed_tokens_per_s'] / r['plain_tokens_per_s'])} (overhead {r['overhead_pct']:+.1f}%)")


def _export_row(r: dict[str, Any]) -> tuple[str, str, str]:
    latency, sizes = r["latency_ms_per_token"], r["sizes_bytes"]
    return (f"INT8 {latency['onnx_int8']:.2f} ms/token, {sizes['onnx_int8'] / 1e6:.1f} MB; "
            f"FP32 {latency['onnx_fp32']:.2f} ms/token; INT8 perplexity {r['perplexity']['int8_delta_pct']:+.2f}%",
            f"{latency['pytorch_eager']:.2f} ms/token, {sizes['pytorch'] / 1e6:.1f} MB",
            f"INT8 {_x(r['int8_speedup_vs_pytorch'])}, FP32 {_x(r['fp32_speedup_vs_pytorch'])} faster; "
            f"INT8 {100 * r['int8_size_share']:.0f}% of the size")


def _serving_row(r: dict[str, Any]) -> tuple[str, str, str]:
    side = lambda s: (f"{s['tokens_per_s']:,.0f} tokens/s, {s['requests_per_s']:.1f} req/s, "  # noqa: E731
                      f"p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms")
    return side(r["results"]["batched"]), side(r["results"]["single"]), _x(r["speedup_tokens_per_s"])


BENCHES = (
    Bench("dedup", "dedup vs datatrove MinHash dedup", "bench_datatrove.py",
          lambda a, out: ["--docs", str(a.docs), "--workers", str(a.processes), "--workdir", os.path.join(out, "work"),
                          "--json", os.path.join(out, "result.json")], _dedup_row),
    Bench("clean", "clean vs langdetect alone (same documents, same processes)", "bench_clean_langid.py",
          lambda a, out: ["--docs", str(a.clean_docs), "--processes", str(a.processes), "--rounds", "3"], _clean_row,
          parse_stdout=_clean_stdout),
    Bench("train", "training: `fullchain train`'s engine vs a plain PyTorch loop", "bench_trainer.py",
          lambda a, out: ["--rounds", str(a.trainer_rounds), "--steps", "3", "--repeats", "2",
                          "--json", os.path.join(out, "result.json")], _trainer_row),
    Bench("export", "export: ONNX Runtime vs PyTorch eager (per token, KV cache, batch 1)", "bench_export.py",
          lambda a, out: ["--hidden", str(a.export_hidden), "--layers", str(a.export_layers),
                          # the default model's shape (12 heads of 64, 4 key/value heads, MLP 8/3 wide) at any width
                          "--heads", str(max(a.export_hidden // 64, 1)), "--kv-heads", str(max(a.export_hidden // 192, 1)),
                          "--intermediate", str(max(a.export_hidden * 8 // 3 // 64 * 64, 64)),
                          "--train-steps", str(a.export_train_steps), "--json", os.path.join(out, "result.json")],
          _export_row),
    Bench("serving", "serving: dynamic batching vs one request per execution (Triton)", "bench_serving.py",
          lambda a, out: ["--concurrency", "8", "--duration-s", str(a.serving_duration_s), "--output", out],
          _serving_row, json_path=lambda out: os.path.join(out, "serving.json")),
)
SIZES = {  # flag -> (default, --quick, what it sizes)
    "docs": (20_000, 2_000, "documents of the dedup vs datatrove corpus"),
    "clean_docs": (10_000, 1_000, "documents of the clean vs langdetect comparison"),
    "trainer_rounds": (3, 1, "timed rounds (of 3 steps) per side of the training comparison"),
    "export_hidden": (768, 256, "width of the exported Llama"),
    "export_layers": (8, 2, "layers of the exported Llama"),
    "export_train_steps": (40, 5, "training steps before the export (so perplexity is not random)"),
    "serving_duration_s": (20.0, 4.0, "seconds of load per serving variant"),
}


def run_bench(bench: Bench, args: argparse.Namespace, out_root: str) -> Row:
    """Run one bench script; its row (or a row saying why there is none)."""
    row = _bench_row(bench, args, out_root)
    row.bench = bench.name
    row.measured = _now()
    return row


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def merged_rows(new: list[Row], previous: list[Row]) -> list[Row]:
    """The rows of every bench in BENCHES order: this run's, else the previous run's (an --only run
    replaces its own rows and keeps the others, each with the time it was measured)."""
    by_bench = {row.bench: row for row in previous}
    by_bench.update({row.bench: row for row in new})
    return [by_bench[b.name] for b in BENCHES if b.name in by_bench]


def read_rows(path: str) -> list[Row]:
    """The rows a previous run wrote to rows.json ([] when there is none)."""
    if not os.path.isfile(path):
        return []
    names = {b.comparison: b.name for b in BENCHES}
    written = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open(path, encoding="utf-8") as fh:
        rows = [Row(**row) for row in json.load(fh)]
    for row in rows:  # rows.json of a run before rows carried their bench and time
        row.bench = row.bench or names.get(row.comparison, "")
        row.measured = row.measured or written
    return rows


def _bench_row(bench: Bench, args: argparse.Namespace, out_root: str) -> Row:
    out = os.path.join(out_root, bench.name)
    os.makedirs(out, exist_ok=True)
    script = os.path.join(BENCH_DIR, bench.script)
    argv = bench.argv(args, out)
    command = " ".join(shlex.quote(part) for part in [".venv/bin/python", f"bench/{bench.script}", *argv])
    shown_command = command.replace(out, f"{args.output}/{bench.name}")
    if not os.path.isfile(script):
        return Row(bench.comparison, "-", "-", f"not measured: bench/{bench.script} is not in this checkout", "")
    print(f"[{bench.name}] {shown_command}", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, script, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=SCRIPT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Row(bench.comparison, "-", "-", f"failed: over {SCRIPT_TIMEOUT_S} s", f"`{shown_command}`")
    seconds = time.perf_counter() - start
    with open(os.path.join(out, "output.log"), "w", encoding="utf-8") as fh:
        fh.write(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return Row(bench.comparison, "-", "-", f"failed (exit {done.returncode}): {last}", f"`{shown_command}`", seconds)
    try:
        if bench.parse_stdout:
            figures = bench.parse_stdout(done.stdout)
        else:
            with open(bench.json_path(out), encoding="utf-8") as fh:
                figures = json.load(fh)
        ours, baseline, ratio = bench.row(figures)
    except (OSError, ValueError, KeyError, ZeroDivisionError, TypeError) as e:
        return Row(bench.comparison, "-", "-", f"failed: its output could not be read ({type(e).__name__}: {e})",
                   f"`{shown_command}`", seconds)
    print(f"[{bench.name}] {ratio} ({seconds:.0f} s)", flush=True)
    return Row(bench.comparison, ours, baseline, ratio, f"`{shown_command}`", seconds, figures)


def machine_line(load_before: float, load_after: float) -> str:
    """The machine the rows were measured on, and how loaded it was."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load_before:.1f} before and {load_after:.1f} after")


def render_section(rows: list[Row], machine: str, when: str, command: str, note: str) -> str:
    """The generated part of docs/BENCHMARKS.md, markers included."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [BEGIN, "## Side by side: `make bench` (generated)", "",
             f"Written by `{command}` on {when}; machine: {machine}. Every row is a ratio of two sides "
             "measured by the same script in one run on this machine, at the time in its last column. "
             "Hand-written sections above are kept; this part is replaced by the next run.", ""]
    if note:
        lines += [note, ""]
    lines += ["| comparison | fullchain | baseline | ratio | command | seconds | measured |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {cell(r.comparison)} | {cell(r.ours)} | {cell(r.baseline)} | {cell(r.ratio)} | {cell(r.command)} | "
              f"{r.seconds:.0f} | {r.measured} |" for r in rows]
    return "\n".join(lines + [END]) + "\n"


def replace_section(document: str, section: str) -> str:
    """`document` with the text between the markers (markers included) replaced by `section`,
    or with `section` appended when it has no markers yet."""
    begin = document.find(BEGIN)
    end = document.find(END, begin) if begin >= 0 else -1
    if end < 0:
        return document.rstrip("\n") + "\n\n" + section
    after = document[end + len(END):].lstrip("\n")
    return document[:begin] + section + ("\n" + after if after else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="Small sizes (a few minutes), to check that it runs.")
    for name, (default, quick, what) in SIZES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=None,
                            help=f"{what.capitalize()} [default: {default}; --quick: {quick}].")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="Worker processes where a side "
                                                                                    "has several [default: cores].")
    parser.add_argument("--only", default="", help=f"Comma-separated subset of {','.join(b.name for b in BENCHES)}; "
                                                   "the other rows are kept from the last run into --output.")
    parser.add_argument("--output", default="bench-output/run-all", help="Folder for the scripts' JSON and logs.")
    parser.add_argument("--doc", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"), help="The page to update.")
    parser.add_argument("--no-doc", action="store_true", help="Print the table; leave docs/BENCHMARKS.md alone.")
    parser.add_argument("--note", default="", help="A line to put above the table (e.g. that the machine was shared).")
    args = parser.parse_args()
    for name, (default, quick, _) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    only = [name for name in args.only.split(",") if name]
    unknown = sorted(set(only) - {b.name for b in BENCHES})
    if unknown:
        parser.error(f"--only: unknown bench {', '.join(unknown)} (choose from {', '.join(b.name for b in BENCHES)})")
    chosen = [b for b in BENCHES if not only or b.name in only]
    out_root = os.path.abspath(args.output)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows_file = os.path.join(out_root, "rows.json")
    new = [run_bench(bench, args, out_root) for bench in chosen]
    rows = merged_rows(new, read_rows(rows_file) if only else [])
    machine = machine_line(load_before, os.getloadavg()[0])
    # the command as given, less the note (it is printed above the table)
    argv = [arg for i, arg in enumerate(sys.argv[1:]) if arg != "--note" and (i == 0 or sys.argv[i] != "--note")]
    command = "make bench" + (" BENCH_ARGS=\"" + " ".join(argv) + "\"" if argv else "")
    section = render_section(rows, machine, _now(), command, args.note)
    with open(rows_file, "w", encoding="utf-8") as fh:
        json.dump([r.__dict__ for r in rows], fh, indent=2)
    print(section)
    if not args.no_doc:
        with open(args.doc, encoding="utf-8") as fh:
            document = fh.read()
        with open(args.doc, "w", encoding="utf-8") as fh:
            fh.write(replace_section(document, section))
        print(f"updated {args.doc}")
    print(f"make bench: {len(rows)} rows in {time.perf_counter() - started:.0f} s")
    failed = [r for r in new if r.ratio.startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
