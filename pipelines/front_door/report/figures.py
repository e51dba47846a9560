"""The report's PNG figures, drawn with matplotlib (Agg, no display) from the summary dict only,
so every plotted number is also in summary.json. One function per figure; `write_figures` draws
those whose section ran and returns {figure name: file name}."""

from __future__ import annotations

import os
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

DPI = 100
_KEPT, _REJECTED = "tab:blue", "tab:red"


def write_figures(summary: dict[str, Any], folder: str) -> dict[str, str]:
    """Draw every figure whose section ran into `folder`; returns {name: PNG file name}."""
    drawn = {}
    for name, (section, has_data, draw) in FIGURES.items():
        if not summary[section].get("ran") or not has_data(summary[section]):
            continue
        fig = draw(summary[section], plt.figure(figsize=(10, 4.2), dpi=DPI))
        filename = f"{name}.png"
        fig.tight_layout()
        fig.savefig(os.path.join(folder, filename))
        plt.close(fig)
        drawn[name] = filename
    return drawn


# Each drawer(section, fig) draws the section into fig and returns fig.

def _funnel(section: dict[str, Any], fig):
    stages = [s for s in section["stages"] if s["ran"]]
    names = ["input"] + [s["folder"] for s in stages]
    counts = [section["input_documents"]] + [s["kept"] for s in stages]
    if section["shard"]["ran"]:
        names.append("shards")
        counts.append(section["shard"]["written"])
    left, right = fig.subplots(1, 2)
    left.barh(names[::-1], counts[::-1], color=_KEPT)
    left.set_xlabel("documents")
    left.set_title("documents left after each stage")
    reasons = sorted({reason for s in stages for reason in s["rejected"]})
    bottom = [0] * len(stages)
    for i, reason in enumerate(reasons):
        values = [s["rejected"].get(reason, 0) for s in stages]
        right.bar([s["folder"] for s in stages], values, bottom=bottom, label=reason, color=plt.cm.tab20(i % 20))
        bottom = [b + v for b, v in zip(bottom, values)]
    right.set_ylabel("documents rejected")
    right.set_title("rejections per stage and reason")
    if reasons:
        right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _planted(section: dict[str, Any], fig):
    ax = fig.subplots()
    kinds = section["kinds"]
    ax.bar([k["kind"] for k in kinds], [100 * k["catch_rate"] for k in kinds], color=_KEPT)
    for i, k in enumerate(kinds):
        ax.annotate(f"{k['caught']}/{k['planted']}", (i, 100 * k["catch_rate"]), ha="center",
                    textcoords="offset points", xytext=(0, 3), fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% caught by some stage")
    ax.set_title("planted documents caught")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return fig


def _dedup_clusters(section: dict[str, Any], fig):
    ax = fig.subplots()
    histogram = section["size_histogram"]
    counts = [h["clusters"] for h in histogram]
    ax.bar([str(h["size"]) for h in histogram], counts, color=_KEPT)
    if max(counts) > 50 * min(counts):  # many pairs, few large clusters: both visible
        ax.set_yscale("log")
    ax.set_xlabel("cluster size (survivor + removed duplicates)")
    ax.set_ylabel("clusters")
    ax.set_title(f"duplicate clusters ({section['clusters']:,}; {section['singletons']:,} documents had none)")
    return fig


def _perplexity(section: dict[str, Any], fig):
    histogram = section["histogram"]
    ax = fig.subplots()
    edges = histogram["edges"]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    ax.bar(edges[:-1], histogram["kept"], width=widths, align="edge", color=_KEPT, label="kept")
    ax.bar(edges[:-1], histogram["rejected"], width=widths, align="edge", bottom=histogram["kept"],
           color=_REJECTED, label="rejected")
    for i, cut in enumerate(section["cutoffs"]):
        ax.axvline(cut["ppl"], color=plt.cm.Dark2(i % 8), linestyle="--", label=cut["label"])
    ax.set_xscale("log")
    # plain numbers on the axis: a narrow range of perplexities would show only 10^2 in exponent form
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.tick_params(axis="x", which="both", labelsize=7)
    ax.set_xlabel("perplexity under the reference LM (log scale)")
    ax.set_ylabel("documents")
    ax.set_title(f"perplexity filter ({section['mode']} mode)")
    ax.legend(fontsize=7)
    return fig


def _roundtrips(section: dict[str, Any], fig):
    axes = fig.subplots(1, 2)
    band = section["gate"]
    for ax, (name, label) in zip(axes, (("bleu", "round-trip BLEU"), ("chrf", "round-trip chrF"))):
        measure = section["measures"][name]
        edges, counts = measure["histogram"]["edges"], measure["histogram"]["counts"]
        widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color=_KEPT, edgecolor="white")
        if name == "chrf":  # the gate judges by chrF: its band, where it has one
            for side, style in (("min_chrf", "--"), ("max_chrf", ":")):
                if band[side] is not None:
                    ax.axvline(band[side], color=_REJECTED, linestyle=style, label=f"gate {side[:3]} {band[side]:g}")
            ax.legend(fontsize=7)
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"{label} (sacrebleu, 0-100)")
        ax.set_ylabel("round trips")
        ax.set_title(f"{label}: {measure['count']} round trips, median {measure['p50']:.1f}")
    return fig


def _training(section: dict[str, Any], fig):
    left, right = fig.subplots(1, 2)
    left.plot(section["train_loss"]["steps"], section["train_loss"]["values"], label="train loss")
    left.plot(section["val_loss"]["steps"], section["val_loss"]["values"], marker="o", label="validation loss")
    left.set_xlabel("optimizer step")
    left.set_ylabel("loss (nats/token)")
    left.set_title("training")
    left.legend()
    right.plot(section["tokens_per_s"]["steps"], section["tokens_per_s"]["values"], color="tab:green")
    right.set_xlabel("optimizer step")
    right.set_ylabel("tokens/s")
    right.set_ylim(bottom=0)
    right.set_title("training throughput")
    return fig


def _export(section: dict[str, Any], fig):
    rows = section["rows"]
    axes = fig.subplots(1, 3)
    for ax, (column, label) in zip(axes, (("size_mb", "size (MB)"), ("ms_per_token", "ms / token (batch 1)"),
                                          ("perplexity", "perplexity"))):
        shown = [r for r in rows if r[column] is not None]
        ax.bar([r["label"] for r in shown], [r[column] for r in shown], color=_KEPT)
        ax.set_title(label)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return fig


def _serving(section: dict[str, Any], fig):
    levels = section["levels"]
    axis = section["axis"]
    x = [lv[axis] for lv in levels]
    # the request latency percentiles, and the median time to first token and between tokens
    latency = [m for m in ("p50_ms", "p95_ms", "p99_ms", "ttft_p50_ms", "itl_p50_ms") if m in section["measures"]
               and any(lv[m] for lv in levels)]
    left, right = fig.subplots(1, 2)
    for measure, color, style in (("tokens_per_s", "tab:blue", "-"), ("requests_per_s", "tab:orange", "--")):
        if measure in section["measures"]:
            axis = left if measure == "tokens_per_s" else left.twinx()
            axis.plot(x, [lv[measure] for lv in levels], marker="o", color=color, linestyle=style, label=measure)
            axis.set_ylabel(measure.replace("_per_s", "/s"), color=color)
    left.set_xlabel(section["axis_title"])
    left.set_title("throughput")
    for measure in latency:
        right.plot(x, [lv[measure] if lv[measure] else float("nan") for lv in levels], marker="o",
                   label=measure[:-3])
    right.set_xlabel(section["axis_title"])
    right.set_ylabel("ms")
    right.set_yscale("log")
    right.set_title("latency (TTFT / ITL where measured)")
    if latency:
        right.legend(fontsize=7)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(c) for c in x])
    return fig


def _has_curves(section: dict[str, Any]) -> bool:
    return bool(section["train_loss"]["steps"] or section["val_loss"]["steps"])


# figure name -> (summary section, whether the section has anything to draw, drawer)
FIGURES: dict[str, tuple[str, Callable[[dict], bool], Callable]] = {
    "funnel": ("funnel", lambda s: any(stage["ran"] for stage in s["stages"]), _funnel),
    "planted": ("planted", lambda s: bool(s["kinds"]), _planted),
    "dedup_clusters": ("dedup", lambda s: bool(s["size_histogram"]), _dedup_clusters),
    "perplexity": ("perplexity", lambda s: bool(s["histogram"]["edges"]), _perplexity),
    "backtranslation": ("backtranslation", lambda s: s["measures"]["bleu"]["count"] > 0, _roundtrips),
    "reference_lm_training": ("reference_lm", _has_curves, _training),
    "training": ("train", _has_curves, _training),
    "lora_training": ("lora", _has_curves, _training),
    "export": ("export", lambda s: bool(s["rows"]), _export),
    "serving": ("serving", lambda s: bool(s["levels"]), _serving),
}
