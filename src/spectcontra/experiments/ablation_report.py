"""The ablation's figure (eval EER per variant, with seed spread) and its README markdown table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# The object-oriented Figure never touches pyplot's global backend or figure registry.
from matplotlib.figure import Figure

from spectcontra.experiments.stats import CI_LEVEL, REFERENCE
from spectcontra.io_utils import atomic_path

DPI = 120
METHOD_COLOUR, OTHER_COLOUR, SEED_COLOUR = "tab:orange", "tab:blue", "0.15"

Summary = Mapping[str, Mapping[str, Any]]


def in_order(summary: Summary) -> list[str]:
    """Variant names in params.yaml order (``order``), whatever order the mapping has."""
    return sorted(summary, key=lambda n: summary[n].get("order", 0))


def plot_ablation(runs: pd.DataFrame, summary: Summary, path: str | Path) -> None:
    """Horizontal bars of mean eval EER (%) per variant, t-interval error bars and one dot per
    seed; the reference (full method) is highlighted and its mean drawn as a dashed line."""
    names = in_order(summary)
    y = np.arange(len(names))
    mean = np.array([summary[n]["eer_mean"] for n in names]) * 100
    low = np.array([_or_nan(summary[n]["eer_ci_low"]) for n in names]) * 100
    high = np.array([_or_nan(summary[n]["eer_ci_high"]) for n in names]) * 100
    fig = Figure(figsize=(7.2, 1.4 + 0.42 * len(names)), dpi=DPI)
    ax = fig.subplots()
    colours = [METHOD_COLOUR if n == REFERENCE else OTHER_COLOUR for n in names]
    ax.barh(y, mean, color=colours, alpha=0.75, height=0.7)
    # Undefined intervals (one seed) are NaN and matplotlib draws no error bar for them.
    ax.errorbar(mean, y, xerr=np.vstack([mean - low, high - mean]), fmt="none", ecolor="black",
                capsize=3, linewidth=1.0, label=f"{CI_LEVEL:.0%} t-interval over seeds")
    for i, name in enumerate(names):
        eers = runs.loc[runs["variant"] == name, "eer"].to_numpy() * 100
        # a small deterministic vertical spread keeps equal values from hiding each other
        offsets = np.linspace(-0.15, 0.15, eers.size) if eers.size > 1 else np.zeros(1)
        ax.plot(eers, i + offsets, "o", color=SEED_COLOUR, markersize=3.5,
                label="one seed" if i == 0 else None)
    if REFERENCE in summary:
        ax.axvline(summary[REFERENCE]["eer_mean"] * 100, color=METHOD_COLOUR, linestyle="--",
                   linewidth=1.0, label=f"{REFERENCE} mean")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    # a t-interval can pass 0 % or 100 % with few seeds; the axis keeps to possible EERs
    right = np.nanmax(np.r_[high, runs["eer"].to_numpy() * 100, mean])
    ax.set_xlim(0, min(100.0, 1.08 * right) or 1.0)
    ax.set_xlabel("Eval EER (%), lower is better")
    n_seeds = max(int(summary[n]["n_seeds"]) for n in names)
    ax.set_title(f"Ablation: mean eval EER over {n_seeds} seeds")
    ax.grid(True, axis="x", alpha=0.3)
    # below the axes, where it cannot hide a bar or an error bar
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def markdown_table(summary: Summary) -> str:
    """Variants ranked by mean dev EER (the only ranking a choice may use), eval beside it:
    variant | dev EER | eval EER [CI] | paired eval EER difference to reference | its paired
    t-test p-value, Holm-adjusted over every variant (bold below 0.05) | AUC | minDCF | params."""
    level = f"{CI_LEVEL:.0%}"
    lines = [
        f"| Variant (ranked by dev) | Dev EER % mean | Eval EER % mean [{level} t-CI] "
        f"| EER - {REFERENCE} (pp) [{level} t-CI] | Holm p | ROC-AUC | minDCF "
        "| Params: pretrain / fine-tuned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = in_order(summary)  # params.yaml order breaks dev ties
    for name in sorted(order, key=lambda n: (summary[n]["dev_eer_mean"], order.index(n))):
        s = summary[name]
        label = f"**{name}**" if name == REFERENCE else name
        diff = (_interval(s, "eer_diff", 100, 2) if name != REFERENCE and "eer_diff_mean" in s
                else "-")
        params = f"{_k(s['params_pretrain'])} / {_k(s['params_trainable'])}"
        holm = "-" if "eer_diff_p_holm" not in s else (
            f"**{s['eer_diff_p_holm']:.3f}**" if s["eer_diff_p_holm"] < 1 - CI_LEVEL
            else f"{s['eer_diff_p_holm']:.3f}")
        lines.append(f"| {label} | {s['dev_eer_mean'] * 100:.2f} | {_interval(s, 'eer', 100, 2)} "
                     f"| {diff} | {holm} | {s['roc_auc_mean']:.3f} | {s['min_dcf_mean']:.3f} "
                     f"| {params} |")
    return "\n".join(lines) + "\n"


def _interval(s: Mapping[str, Any], key: str, scale: float, places: int) -> str:
    text = f"{s[f'{key}_mean'] * scale:.{places}f}"
    low, high = s[f"{key}_ci_low"], s[f"{key}_ci_high"]
    if low is not None and high is not None:
        text += f" [{low * scale:.{places}f}, {high * scale:.{places}f}]"
    return text


def _k(count: int) -> str:
    return "-" if count == 0 else f"{count / 1000:.1f}k"


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value
