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
    fig = Figure(figsize=(7.2, 1.6 + 0.42 * len(names)), dpi=DPI, layout="constrained")
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
    # below the axis label (the constrained layout makes room), where it hides no bar
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def markdown_table(summary: Summary) -> str:
    """Variants ranked by mean dev EER (the only ranking a choice may use), eval beside it.

    Columns: dev EER and its paired difference to the reference (t-interval across seeds);
    eval EER (t-interval across seeds); the paired eval difference with its speaker x seed
    bootstrap interval, at 95% and at the Bonferroni level over every compared variant (bold
    where that simultaneous interval excludes 0: only those differences are claims); the
    paired t-test p-value across seeds, Holm-adjusted; ROC-AUC; minDCF; parameters.
    Differences are in percentage points; "-" where a run has no such interval (the
    reference itself, or scale small, whose seeds score different eval subsets).
    """
    level = f"{CI_LEVEL:.0%}"
    lines = [
        f"| Variant (ranked by dev) | Dev EER % | Dev - {REFERENCE} (pp) [{level} t] "
        f"| Eval EER % [{level} t] | Eval - {REFERENCE} (pp) [{level} speaker x seed] "
        "| same, simultaneous | Holm p | ROC-AUC | minDCF | Params: pretrain / fine-tuned |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = in_order(summary)  # params.yaml order breaks dev ties
    for name in sorted(order, key=lambda n: (summary[n]["dev_eer_mean"], order.index(n))):
        s = summary[name]
        compared = name != REFERENCE
        label = f"**{name}**" if not compared else name
        dev_diff = _interval(s, "dev_eer_diff", 100, 2) if compared and "dev_eer_diff_mean" in s else "-"
        boot, simultaneous = "-", "-"
        if compared and "eer_diff_boot_mean" in s:
            boot = (f"{s['eer_diff_boot_mean'] * 100:+.2f} [{s['eer_diff_boot_ci_low'] * 100:+.2f}, "
                    f"{s['eer_diff_boot_ci_high'] * 100:+.2f}]")
            low, high = s["eer_diff_boot_simultaneous_ci_low"], s["eer_diff_boot_simultaneous_ci_high"]
            simultaneous = f"[{low * 100:+.2f}, {high * 100:+.2f}]"
            if low > 0 or high < 0:
                simultaneous = f"**{simultaneous}**"
        params = f"{_k(s['params_pretrain'])} / {_k(s['params_trainable'])}"
        holm = "-" if "eer_diff_p_holm" not in s else (
            f"**{s['eer_diff_p_holm']:.3f}**" if s["eer_diff_p_holm"] < 1 - CI_LEVEL
            else f"{s['eer_diff_p_holm']:.3f}")
        lines.append(f"| {label} | {s['dev_eer_mean'] * 100:.2f} | {dev_diff} "
                     f"| {_interval(s, 'eer', 100, 2)} | {boot} | {simultaneous} | {holm} "
                     f"| {s['roc_auc_mean']:.3f} | {s['min_dcf_mean']:.3f} | {params} |")
    return "\n".join(lines) + "\n"


def verdict(summary: Summary) -> str:
    """What the ablation resolves (speaker x seed intervals at the Bonferroni level) and the
    dev-only rule for the default: it moves to the variant with the lowest mean dev EER only
    when that variant's paired dev difference interval, at the Bonferroni level over every
    compared variant (the choice is made among all of them), lies wholly below 0."""
    compared = [n for n in in_order(summary) if n != REFERENCE]
    paired = [n for n in compared if "eer_diff_boot_simultaneous_ci_low" in summary[n]]
    resolved = [n for n in paired if summary[n]["eer_diff_boot_simultaneous_ci_low"] > 0
                or summary[n]["eer_diff_boot_simultaneous_ci_high"] < 0]

    def pp(n: str) -> str:
        s = summary[n]
        return (f"{n} {s['eer_diff_boot_mean'] * 100:+.2f} pp "
                f"[{s['eer_diff_boot_simultaneous_ci_low'] * 100:+.2f}, "
                f"{s['eer_diff_boot_simultaneous_ci_high'] * 100:+.2f}]")

    if not paired:
        claims = ("No speaker x seed intervals were computed (scale small: each seed scores its "
                  "own eval subset), so this run supports no claim.")
    elif resolved:
        claims = ("Against " + REFERENCE + ", the simultaneous speaker x seed intervals resolve "
                  + "; ".join(pp(n) for n in resolved) + " (eval EER); every other difference "
                  "is within noise.")
    else:
        claims = (f"No variant's eval EER differs from {REFERENCE}'s by an interval that excludes 0 "
                  "(simultaneous speaker x seed intervals).")
    best = min(in_order(summary), key=lambda n: summary[n]["dev_eer_mean"])
    s = summary[best]
    low, high = s.get("dev_eer_diff_simultaneous_ci_low"), s.get("dev_eer_diff_simultaneous_ci_high")
    if best == REFERENCE:
        rule = f"{REFERENCE} also has the lowest mean dev EER, so it stays the default."
    elif low is None or high is None or "dev_eer_diff_mean" not in s:
        rule = (f"{best} has the lowest mean dev EER, but it has no paired dev interval against "
                f"{REFERENCE}, so by the dev rule the default stays {REFERENCE}.")
    elif high < 0:
        rule = (f"{best} has a lower dev EER than {REFERENCE} by a simultaneous interval that "
                f"excludes 0 ({s['dev_eer_diff_mean'] * 100:+.2f} pp [{low * 100:+.2f}, "
                f"{high * 100:+.2f}]), so by the dev rule it should be the default.")
    else:
        rule = (f"{best} has the lowest mean dev EER, but its paired dev difference to "
                f"{REFERENCE} ({s['dev_eer_diff_mean'] * 100:+.2f} pp [{low * 100:+.2f}, "
                f"{high * 100:+.2f}], simultaneous) does not exclude 0, so by the dev rule the "
                f"default stays {REFERENCE}.")
    return claims + " " + rule + "\n"


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
