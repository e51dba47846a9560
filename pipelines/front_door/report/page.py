"""The report page: index.html from the summary dict and the figures' file names. One file with
its style inline and no script, fonts or anything fetched: it reads offline in any browser.

Every value the page shows from the summary sits in an element with `data-key`, the value's path
in summary.json (dots between keys and list indices), so a test can check the page against it.
"""

from __future__ import annotations

import functools
import html
from typing import Any, Iterable

from fullchain.report.text_diff import marked_changes

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; }
.not-run { color: #a40; font-style: italic; }
.text { font-size: 0.85em; white-space: pre-wrap; max-width: 500px; }
.muted { color: #666; font-size: 0.9em; }
code { font-size: 0.85em; }
nav a { margin-right: 1em; }
"""

SECTIONS = (("run", "Run"), ("funnel", "Data funnel"), ("planted", "Planted documents"),
            ("dedup", "Duplicate clusters"), ("reference_lm", "Reference LM (scores the perplexity filter)"),
            ("perplexity", "Perplexity filter"), ("backtranslation", "Back-translation round trips"),
            ("train", "Training"), ("lora", "LoRA fine-tune"),
            ("export", "Export"), ("serving", "Serving"), ("eval", "Evaluation"), ("lineage", "Lineage"))


def format_number(value: float | int, scale: float = 1) -> str:
    """How the page writes a number: integers with thousands separators, floats to a precision
    that suits their size."""
    if isinstance(value, int) and scale == 1:
        return f"{value:,}"
    if scale != 1:  # a share shown as a percentage
        return f"{value * scale:.1f}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    if abs(value) >= 0.01 or value == 0:
        return f"{value:.3f}"
    return f"{value:.2e}"


def value(v: Any, key: str, scale: float = 1, suffix: str = "") -> str:
    """A summary value as a span carrying its summary path (and scale, when the page shows it scaled)."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        text = "yes" if v else "no"
    elif isinstance(v, (int, float)):
        text = format_number(v, scale)
    else:
        text = str(v)
    scale_attr = f' data-scale="{scale:g}"' if scale != 1 else ""
    return f'<span data-key="{html.escape(key)}"{scale_attr}>{html.escape(text)}</span>{suffix}'


def render_page(summary: dict[str, Any], figures: dict[str, str]) -> str:
    """index.html of the summary; `figures` maps figure names to PNG files beside it."""
    body = [f"<h1>fullchain run report</h1><p class=\"muted\">{value(summary['run_dir'], 'run_dir')}</p>",
            "<nav>" + "".join(f'<a href="#{anchor}">{title}</a>' for anchor, title in SECTIONS) + "</nav>"]
    for anchor, title in SECTIONS:
        section = summary[anchor] if anchor != "lineage" else {"ran": True, **summary[anchor]}
        body.append(f'<h2 id="{anchor}">{title}</h2>')
        if not section.get("ran"):
            note = section.get("note", "no output in the run folder")
            body.append(f'<p class="not-run">Not run: {html.escape(note)}</p>')
            if anchor == "serving":
                body.append(_smoke(section.get("smoke")))
            continue
        body.append(_RENDERERS[anchor](summary[anchor], figures))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fullchain run report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _figure(figures: dict[str, str], name: str, alt: str) -> str:
    return f'<p><img src="{html.escape(figures[name])}" alt="{html.escape(alt)}"></p>' if name in figures else ""


def _table(head: list[str], rows: list[list[str]], numeric: Iterable[int] = ()) -> str:
    """An HTML table; the columns in `numeric` are right-aligned."""
    numeric = set(numeric)

    def cell(tag: str, i: int, content: str) -> str:
        return f'<{tag} class="num">{content}</{tag}>' if i in numeric else f"<{tag}>{content}</{tag}>"

    lines = ["<table><tr>" + "".join(cell("th", i, html.escape(h)) for i, h in enumerate(head)) + "</tr>"]
    lines += ["<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows]
    return "\n".join(lines) + "</table>"


def _run(section: dict[str, Any], figures: dict[str, str]) -> str:
    rows = [[html.escape(s["stage"]), value(s["status"], f"run.stages.{i}.status"),
             value(s["seconds"], f"run.stages.{i}.seconds"), value(s["key_figure"], f"run.stages.{i}.key_figure")]
            for i, s in enumerate(section["stages"])]
    return (f"<p>Status {value(section['status'], 'run.status')}, config {value(section['config'], 'run.config')}, "
            f"started {value(section['started'], 'run.started')}, "
            f"finished {value(section['finished'], 'run.finished')}.</p>"
            + _table(["stage", "status", "seconds", "key figure"], rows, numeric=[2]))


def _funnel(section: dict[str, Any], figures: dict[str, str]) -> str:
    rows = []
    for i, s in enumerate(section["stages"]):
        key = f"funnel.stages.{i}"
        if not s["ran"]:
            rows.append([html.escape(s["folder"]), '<span class="not-run">did not run</span>', "", "", "", ""])
            continue
        reasons = "<br>".join([f"{html.escape(r)}: {value(n, f'{key}.rejected.{r}')}" for r, n in s["rejected"].items()]
                              + [f"tally {html.escape(t['key'])}: {value(t['count'], f'{key}.tallies.{j}.count')}"
                                 for j, t in enumerate(s.get("tallies", []))])
        rows.append([html.escape(s["folder"]), value(s["input"], f"{key}.input"), value(s["added"], f"{key}.added"),
                     value(s["kept"], f"{key}.kept"), value(s["rejected_total"], f"{key}.rejected_total"), reasons])
    shard = section["shard"]
    if shard["ran"]:
        skipped = "<br>".join(f"{html.escape(r)}: {value(n, f'funnel.shard.skipped.{r}')}"
                              for r, n in shard["skipped"].items())
        rows.append(["shard", value(shard["input"], "funnel.shard.input"), "",
                     value(shard["written"], "funnel.shard.written"),
                     "", skipped])
    else:
        rows.append(["shard", '<span class="not-run">did not run</span>', "", "", "", ""])
    out = [f"<p>{value(section['input_documents'], 'funnel.input_documents')} input documents.</p>",
           _figure(figures, "funnel", "documents kept and rejected per stage"),
           _table(["stage", "input", "added", "kept", "rejected", "rejections by reason"], rows, numeric=range(1, 5))]
    if shard["ran"]:
        out.append(_table(["split", "samples", "tokens", "shards"],
                          [[html.escape(name), *(value(v[k], f"funnel.shard.splits.{name}.{k}")
                                                 for k in ("samples", "tokens", "shards"))]
                           for name, v in shard["splits"].items()], numeric=range(1, 4)))
    return "\n".join(out)


def _planted(section: dict[str, Any], figures: dict[str, str]) -> str:
    rows = []
    for i, k in enumerate(section["kinds"]):
        key = f"planted.kinds.{i}"
        where = "<br>".join(f"{html.escape(stage)} / {html.escape(reason)}: "
                            f"{value(n, f'{key}.by_stage.{stage}.{reason}')}"
                            for stage, reasons in k["by_stage"].items() for reason, n in reasons.items())
        rows.append([html.escape(k["kind"]), value(k["planted"], f"{key}.planted"), value(k["caught"], f"{key}.caught"),
                     value(k["catch_rate"], f"{key}.catch_rate", 100, "%"), value(k["missed"], f"{key}.missed"), where])
    return (f"<p>{value(section['caught'], 'planted.caught')} of {value(section['planted'], 'planted.planted')} "
            f"planted documents were rejected by some stage "
            f"({value(section['catch_rate'], 'planted.catch_rate', 100, '%')}).</p>"
            + _figure(figures, "planted", "planted documents caught per kind")
            + _table(["kind", "planted", "caught", "catch rate", "missed", "caught by stage / reason"], rows,
                     numeric=range(1, 5)))


def _dedup(section: dict[str, Any], figures: dict[str, str]) -> str:
    reasons = ", ".join(f"{value(n, f'dedup.by_reason.{r}')} {html.escape(r)}" for r, n in section["by_reason"].items())
    out = [f"<p>{value(section['removed'], 'dedup.removed')} of "
           f"{value(section['documents'], 'dedup.documents')} documents "
           f"removed ({reasons}) in {value(section['clusters'], 'dedup.clusters')} clusters; the largest has "
           f"{value(section['largest'], 'dedup.largest')} documents; "
           f"{value(section['singletons'], 'dedup.singletons')} kept documents have no duplicate.</p>",
           _figure(figures, "dedup_clusters", "duplicate cluster sizes"),
           _table(["cluster size", "clusters"], [[value(h["size"], f"dedup.size_histogram.{i}.size"),
                                                  value(h["clusters"], f"dedup.size_histogram.{i}.clusters")]
                                                 for i, h in enumerate(section["size_histogram"])], numeric=[0, 1])]
    for i, example in enumerate(section["examples"]):
        key = f"dedup.examples.{i}"
        removed = "".join(f'<p><code>{value(r["id"], f"{key}.removed.{j}.id")}</code> '
                          f'({value(r["reason"], f"{key}.removed.{j}.reason")})</p>'
                          f'<div class="text">{marked_changes(r["text"], example["survivor"]["text"])}</div>'
                          for j, r in enumerate(example["removed"]))
        out.append(f"<h3>Cluster of {value(example['size'], f'{key}.size')}</h3>" + _table(
            ["survivor (kept)", "removed as its duplicate"],
            [[f'<p><code>{value(example["survivor"]["id"], f"{key}.survivor.id")}</code></p>'
              f'<div class="text">{html.escape(example["survivor"]["text"])}</div>', removed]]))
    return "\n".join(out)


def _perplexity(section: dict[str, Any], figures: dict[str, str]) -> str:
    out = [f"<p>Mode {value(section['mode'], 'perplexity.mode')}: {value(section['scored'], 'perplexity.scored')} "
           f"documents scored, {value(section['unscorable'], 'perplexity.unscorable')} unscorable; "
           f"{value(section['kept'], 'perplexity.kept')} kept, {value(section['rejected'], 'perplexity.rejected')} "
           "rejected.</p>",
           _figure(figures, "perplexity", "perplexity histogram with cut-offs")]
    if section["cutoffs"]:
        out.append(_table(["cut-off", "perplexity"], [[value(c["label"], f"perplexity.cutoffs.{i}.label"),
                                                       value(c["ppl"], f"perplexity.cutoffs.{i}.ppl")]
                                                      for i, c in enumerate(section["cutoffs"])], numeric=[1]))
    for bucket, entry in section["buckets"].items():
        key = f"perplexity.buckets.{bucket}"
        out.append(f"<h3>Bucket {html.escape(bucket)}: {value(entry['kept'], f'{key}.kept')} kept, "
                   f"{value(entry['rejected'], f'{key}.rejected')} rejected</h3>")
        rows = [[html.escape(name), value(d["ppl"], f"{key}.{examples}.{j}.ppl"),
                 value(d["lang"], f"{key}.{examples}.{j}.lang"),
                 f'<div class="text">{html.escape(d["text"])}</div>']
                for examples, name in (("examples_kept", "kept"), ("examples_rejected", "rejected"))
                for j, d in enumerate(entry[examples])]
        if rows:
            out.append(_table(["", "perplexity", "lang", "text"], rows, numeric=[1]))
    return "\n".join(out)


def _backtranslation(section: dict[str, Any], figures: dict[str, str]) -> str:
    rejected = ", ".join(f"{value(n, f'backtranslation.rejected.{r}')} {html.escape(r)}"
                         for r, n in section["rejected"].items()) or "none"
    gate = section["gate"]
    rows = [[html.escape(label), *(value(section["measures"][name][field], f"backtranslation.measures.{name}.{field}")
                                   for field in ("count", "mean", "p10", "p50", "p90"))]
            for name, label in (("bleu", "BLEU"), ("chrf", "chrF"))]
    return (f"<p>{value(section['round_trips'], 'backtranslation.round_trips')} round trips judged by the gate, "
            f"{value(section['kept'], 'backtranslation.kept')} kept; rejected: {rejected}. The gate keeps a round "
            f"trip whose chrF is within [{value(gate['min_chrf'], 'backtranslation.gate.min_chrf')}, "
            f"{value(gate['max_chrf'], 'backtranslation.gate.max_chrf')}] (sacrebleu sentence scores, 0-100, "
            "against the original; every round trip counts, kept or rejected).</p>"
            + _figure(figures, "backtranslation", "round-trip BLEU and chrF histograms with the gate's band")
            + _table(["score", "round trips", "mean", "p10", "p50", "p90"], rows, numeric=range(1, 6)))


def _training_run(section: dict[str, Any], figures: dict[str, str], key: str, figure: str) -> str:
    """A trainer run folder's section (the main model's, the reference LM's or LoRA's) under summary key `key`."""
    facts = [f"{value(section['steps'], f'{key}.steps')} steps, {value(section['tokens'], f'{key}.tokens')} tokens, "
             f"median {value(section['tokens_per_s_median'], f'{key}.tokens_per_s_median')} tokens/s, last train loss "
             f"{value(section['final_train_loss'], f'{key}.final_train_loss')}."]
    if "first_val_ppl" in section:
        facts.append(f"Validation perplexity {value(section['first_val_ppl'], f'{key}.first_val_ppl')} at the first "
                     f"evaluation, {value(section['last_val_ppl'], f'{key}.last_val_ppl')} at the last: "
                     f"{value(section['val_ppl_drop'], f'{key}.val_ppl_drop')} times lower.")
    if "start_val_ppl" in section:
        facts.append(f"On the samples' validation windows: {value(section['start_val_ppl'], f'{key}.start_val_ppl')} "
                     f"untrained, {value(section['end_val_ppl'], f'{key}.end_val_ppl')} trained, "
                     f"{value(section['val_ppl_drop_from_start'], f'{key}.val_ppl_drop_from_start')} times lower.")
    out = [f"<p>{' '.join(facts)}</p>", _figure(figures, figure, "training and validation loss, tokens/s")]
    samples = section["samples"].get("samples", [])
    prompts = section["samples"].get("prompts", [])
    if not samples:
        if key == "train":
            out.append('<p class="not-run">No samples (no train/samples.json).</p>')
        return "\n".join(out)
    # one row per prompt, one column per sampled step: the start of training beside its end
    head = "".join(f"<th>greedy sample at step {value(s['step'], f'{key}.samples.samples.{i}.step')}"
                   + (f" (validation perplexity {value(s['val_ppl'], f'{key}.samples.samples.{i}.val_ppl')})"
                      if s.get("val_ppl") is not None else "") + "</th>"
                   for i, s in enumerate(samples))
    rows = []
    for j, prompt in enumerate(prompts):
        cells = "".join(f'<td><div class="text">{value(s["texts"][j], f"{key}.samples.samples.{i}.texts.{j}")}'
                        "</div></td>" if j < len(s.get("texts", [])) else "<td></td>" for i, s in enumerate(samples))
        rows.append(f"<tr><td>{value(prompt, f'{key}.samples.prompts.{j}')}</td>{cells}</tr>")
    out.append(f"<table><tr><th>prompt</th>{head}</tr>" + "\n".join(rows) + "</table>")
    return "\n".join(out)


def _export(section: dict[str, Any], figures: dict[str, str]) -> str:
    rows = [[html.escape(r["label"]), value(r["size_mb"], f"export.rows.{i}.size_mb"),
             value(r["ms_per_token"], f"export.rows.{i}.ms_per_token"),
             value(r["perplexity"], f"export.rows.{i}.perplexity"),
             value(r["ppl_delta_pct"], f"export.rows.{i}.ppl_delta_pct", 1, "" if r["ppl_delta_pct"] is None else "%")]
            for i, r in enumerate(section["rows"])]
    machine = section["machine"]
    return (f"<p>Served precision {value(section['precision'], 'export.precision')}; checks passed: "
            f"{value(section['passed'], 'export.passed')}; FP32 logits max relative error against PyTorch "
            f"{value(section['logits_rel_error'], 'export.logits_rel_error')}; INT8/FP32 top-1 agreement "
            f"{value(section['top1_agreement_int8_fp32'], 'export.top1_agreement_int8_fp32', 100, '%')}.</p>"
            + _table(["engine", "size MB", "ms / token (KV cache, batch 1)", "perplexity", "vs FP32"], rows,
                     numeric=range(1, 5))
            + _figure(figures, "export", "size, latency and perplexity per engine")
            + f"<p class=\"muted\">Validation text: {html.escape(section['validation_text'])}. Latency measured on "
              f"{html.escape(str(machine.get('cpus', '?')))} CPUs at load average "
              f"{html.escape(str(machine.get('load_average_1m', '?')))}.</p>")


def _smoke(smoke: dict[str, Any] | None) -> str:
    if not smoke:
        return ""
    return (f"<p>Smoke generation of the served model: prompt "
            f"<code>{value(smoke['prompt'], 'serving.smoke.prompt')}</code>"
            f", {value(smoke['tokens'], 'serving.smoke.tokens')} tokens in "
            f"{value(smoke['latency_s'], 'serving.smoke.latency_s')} s:</p>"
            f'<div class="text">{value(smoke["completion"], "serving.smoke.completion")}</div>')


def _serving(section: dict[str, Any], figures: dict[str, str]) -> str:
    levels = section["levels"]
    axis, axis_title = section["axis"], section["axis_title"]
    # one row per measure, one column per level: the load test reports many measures
    head = "".join(f'<th class="num">{value(lv[axis], f"serving.levels.{i}.{axis}")}</th>'
                   for i, lv in enumerate(levels))
    rows = [f"<tr><td>{html.escape(m)}</td>" + "".join(f'<td class="num">{value(lv[m], f"serving.levels.{i}.{m}")}</td>'
                                                       for i, lv in enumerate(levels)) + "</tr>"
            for m in section["measures"]]
    return (f"<p>Model {value(section['model'], 'serving.model')} over "
            f"{value(section['protocol'], 'serving.protocol')}, "
            f"{value(section['max_tokens'], 'serving.max_tokens')} tokens per request, "
            f"{value(section['duration_s'], 'serving.duration_s')} s per level; peak "
            f"{value(section['peak_tokens_per_s'], 'serving.peak_tokens_per_s')} tokens/s.</p>"
            + _figure(figures, "serving", f"throughput and latency against {axis_title}")
            + f"<table><tr><th>{axis_title}</th>{head}</tr>" + "\n".join(rows) + "</table>"
            + _smoke(section["smoke"]))


def _eval(section: dict[str, Any], figures: dict[str, str]) -> str:
    rows = [[value(r["task"], f"eval.rows.{i}.task"), value(r["metric"], f"eval.rows.{i}.metric"),
             *(value(v, f"eval.rows.{i}.values.{j}") for j, v in enumerate(r["values"]))]
            for i, r in enumerate(section["rows"])]
    more = (f"<p class=\"muted\">{section['total_rows'] - len(rows)} more rows in "
            f"eval/{html.escape(section['source'])}.</p>" if section["total_rows"] > len(rows) else "")
    labels = [html.escape(label) for label in section["labels"]]
    return (f"<p>From eval/{html.escape(section['source'])}.</p>" + _figure(figures, "eval_scores", "evaluation scores")
            + _table(["task", "metric", *labels], rows, numeric=range(2, 2 + len(labels))) + more
            + _release_gate(section["gate"]) + _served(section["served"]))


def _served(served: dict[str, Any]) -> str:
    """The running server's scores beside the export's in process, and how far apart they are."""
    if not served.get("ran"):
        return f'<h3>Served model</h3><p class="not-run">Not run: {html.escape(served.get("note", ""))}</p>'
    rows = [[value(r[name], f"eval.served.rows.{i}.{name}") for name in ("task", "metric", "served", "in_process",
                                                                         "relative_difference")]
            for i, r in enumerate(served["rows"])]
    return (f"<h3>Served model</h3><p>{value(served['served'], 'eval.served.served')} (the running server) against "
            f"{value(served['in_process'], 'eval.served.in_process')} (the export in process, rows scored as the "
            f"server scores them): largest relative difference "
            f"{value(served['max_relative_difference'], 'eval.served.max_relative_difference')}.</p>"
            + _table(["task", "metric", "served", "in process", "relative difference"], rows, numeric=[2, 3, 4]))


def _release_gate(gate: dict[str, Any]) -> str:
    """The release gate's decision on the evaluation and every row it checked."""
    if not gate.get("ran"):
        return f'<h3>Release gate</h3><p class="not-run">Not run: {html.escape(gate.get("note", ""))}</p>'
    failures = "".join(f"<li>{value(f, f'eval.gate.failures.{i}')}</li>" for i, f in enumerate(gate["failures"]))
    rows = [[value(r[name], f"eval.gate.checked.{i}.{name}") for name in ("task", "metric", "fp32", "quantized")]
            + [value(r["change"], f"eval.gate.checked.{i}.change", suffix=" ")
               + value(r["unit"], f"eval.gate.checked.{i}.unit")]
            for i, r in enumerate(gate["checked"])]
    return (f"<h3>Release gate</h3><p>Decision: <strong>{value(gate['decision'], 'eval.gate.decision')}</strong>; "
            f"{value(gate['precision'], 'eval.gate.precision')} "
            f"({value(gate['quantized'], 'eval.gate.quantized')}) against "
            f"{value(gate['reference'], 'eval.gate.reference')}; "
            f"forced: {value(gate['forced'], 'eval.gate.forced')}.</p>"
            + (f"<ul>{failures}</ul>" if failures else "")
            + (_table(["task", "metric", "FP32", "quantized", "change"], rows, numeric=[2, 3, 4]) if rows else ""))


def _lineage(section: dict[str, Any], figures: dict[str, str]) -> str:
    shards, ckpt, export, published = (section[k] for k in ("shards", "checkpoint", "export", "published"))
    not_there = '<span class="not-run">not in the run folder</span>'
    rows = [
        ["shards (funnel, training data)",
         f"manifest sha256 <code>{value(shards['sha256'], 'lineage.shards.sha256')}</code>, "
         f"{value(shards['shards'], 'lineage.shards.shards')} shards" if shards["ran"] else not_there],
        ["checkpoint (training curves, samples)",
         f"<code>{value(ckpt['checkpoint'], 'lineage.checkpoint.checkpoint')}</code>, step "
         f"{value(ckpt['step'], 'lineage.checkpoint.step')}, trained on these shards: "
         f"{value(ckpt['trained_on_run_shards'], 'lineage.checkpoint.trained_on_run_shards')}, HF weights sha256 "
         f"<code>{value(ckpt['hf_weights_sha256'], 'lineage.checkpoint.hf_weights_sha256')}</code>"
         if ckpt["ran"] else not_there],
        ["export (FP32/INT8 table)",
         f"export.json sha256 <code>{value(export['sha256'], 'lineage.export.sha256')}</code>, "
         f"{value(export['precision'], 'lineage.export.precision')}, made from this run's training: "
         f"{value(export['from_run_training'], 'lineage.export.from_run_training')}" if export["ran"] else not_there],
        ["published version (serving, evaluation)",
         ("versions holding this export: " + (", ".join(
             f"{value(m['model'], f'lineage.published.versions_of_this_export.{i}.model')} v"
             f"{value(m['version'], f'lineage.published.versions_of_this_export.{i}.version')}"
             for i, m in enumerate(published["versions_of_this_export"])) or "none")
          + (f"; run.json records version {value(published['recorded_version'], 'lineage.published.recorded_version')}"
             if published["recorded_version"] is not None else "")) if published["ran"] else not_there],
    ]
    return _table(["figures", "come from"], rows)


_RENDERERS = {"run": _run, "funnel": _funnel, "planted": _planted, "dedup": _dedup, "perplexity": _perplexity,
              "backtranslation": _backtranslation,
              "reference_lm": functools.partial(_training_run, key="reference_lm", figure="reference_lm_training"),
              "train": functools.partial(_training_run, key="train", figure="training"),
              "lora": functools.partial(_training_run, key="lora", figure="lora_training"),
              "export": _export, "serving": _serving, "eval": _eval, "lineage": _lineage}
