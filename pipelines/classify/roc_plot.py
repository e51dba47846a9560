"""The held-out ROC curve of a trained classifier as a PNG in its folder: what a person looks at to
pick another threshold than the F1-best one."""

from __future__ import annotations

import os

from fullchain.pipelines.classify.metrics import roc_curve
from fullchain.pipelines.classify.training import TrainedClassifier

ROC_FILE = "roc.png"


def write_roc_plot(folder: str, trained: TrainedClassifier, positive_label: str) -> str:
    """Draw the held-out ROC curve, with the chosen threshold's point, into FOLDER/roc.png; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr = roc_curve(trained.heldout_scores, trained.heldout_labels)
    m = trained.metrics
    chosen_fpr = 0.0
    negatives = (trained.heldout_labels == 0)
    if negatives.any():
        chosen_fpr = float((trained.heldout_scores[negatives] >= m.threshold).mean())
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot(fpr, tpr, drawstyle="steps-post", label=f"held out (AUC {m.auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.plot([chosen_fpr], [m.recall], "o", color="C3", label=f"threshold {m.threshold:.3f} (best F1 {m.f1:.3f})")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel(f"true-positive rate ({positive_label})")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{m.positives} {positive_label} / {m.negatives} other, held out", fontsize=9)
    fig.tight_layout()
    path = os.path.join(folder, ROC_FILE)
    fig.savefig(path)
    plt.close(fig)
    return path
