"""The label-efficiency figure (EER vs labelled fraction, with bands) and its README table.

Reads the study's summary only (pandas, matplotlib): the report never imports training code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# The object-oriented Figure never touches pyplot's global backend or figure registry.
from matplotlib.figure import Figure

from spectcontra.io_utils import atomic_path

ARM_LABELS = {
    "supervised": "(a) supervised, random init",
    "pretrained_finetune": "(b) contrastive pretraining + fine-tuning",
    "pretrained_probe": "(c) linear probe of (b)'s encoder",
    "random_probe": "(d) linear probe of a random encoder",
    "lfcc_lr": "LFCC + logistic regression",
}
DPI = 120


def _fractions(summary: Mapping[str, Any]) -> list[str]:
    return sorted(summary, key=float)


def plot_label_efficiency(summary: Mapping[str, Any], path: str | Path) -> None:
    """Mean eval EER (%) per arm against the labelled fraction (log axis), interval bands."""
    fractions = _fractions(summary)
    x = np.array([float(f) * 100 for f in fractions])
    fig = Figure(figsize=(7.2, 4.4), dpi=DPI)
    ax = fig.subplots()
    for arm, label in ARM_LABELS.items():
        rows = [summary[f][arm] for f in fractions]
        mean = np.array([r["eer_mean"] for r in rows]) * 100
        low = np.array([r["eer_ci_low"] for r in rows]) * 100
        high = np.array([r["eer_ci_high"] for r in rows]) * 100
        line, = ax.plot(x, mean, marker="o", label=label)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}%" for v in x])
    ax.set_xlabel("labelled fraction of train")
    ax.set_ylabel("eval EER (%)")
    ax.set_title("Label efficiency (bands: speaker x seed bootstrap 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def markdown_table(summary: Mapping[str, Any]) -> str:
    """One row per fraction: EER of each arm and (b) - (a) with its interval."""
    fractions = _fractions(summary)
    arms = list(ARM_LABELS)
    head = ("| labelled | n | " + " | ".join(f"{a} EER %" for a in arms)
            + " | (b) - (a) pp [95% CI] | gain? |")
    lines = [head, "|" + "---|" * (len(arms) + 4)]
    for f in fractions:
        s = summary[f]
        cells = [f"{s[a]['eer_mean'] * 100:.2f} [{s[a]['eer_ci_low'] * 100:.1f}, "
                 f"{s[a]['eer_ci_high'] * 100:.1f}]" for a in arms]
        b = s["pretrained_finetune"]
        diff = (f"{b['diff_vs_supervised'] * 100:+.2f} [{b['diff_ci_low'] * 100:+.2f}, "
                f"{b['diff_ci_high'] * 100:+.2f}]")
        verdict = ("pretraining better" if b["diff_ci_high"] < 0 else
                   "pretraining worse" if b["diff_ci_low"] > 0 else "no difference shown")
        lines.append(f"| {float(f) * 100:g}% | {s['n_labelled']} | " + " | ".join(cells)
                     + f" | {diff} | {verdict} |")
    return "\n".join(lines) + "\n"
