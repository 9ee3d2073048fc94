"""PNG figures of evaluation curves (several systems per figure) and a markdown metric table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# The object-oriented Figure draws through Agg when saved and never touches pyplot's global
# backend or figure registry, so importing this module changes nothing for other code.
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import norm

from spectcontra.conventions import BONAFIDE
from spectcontra.evaluation.metrics import probit
from spectcontra.io_utils import atomic_path

DPI = 120
DET_TICKS_PERCENT = (0.01, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 60, 80)  # spaced to stay legible
DET_RANGE = (1e-4, 0.8)  # widest axis range of a DET plot, as rates

TABLE_KEYS = (
    "eer", "min_dcf", "act_dcf", "cllr", "min_cllr", "roc_auc", "ap_bonafide", "ap_spoof",
    "ece", "accuracy_at_dev_thr", "far_at_dev_thr", "frr_at_dev_thr",
)
TABLE_NAMES = {
    "eer": "EER (%)", "min_dcf": "minDCF", "act_dcf": "actDCF", "cllr": "Cllr",
    "min_cllr": "minCllr", "roc_auc": "ROC-AUC", "ap_bonafide": "AP bona fide",
    "ap_spoof": "AP spoof", "ece": "ECE", "accuracy_at_dev_thr": "Acc @dev thr (%)",
    "far_at_dev_thr": "FAR @dev thr (%)", "frr_at_dev_thr": "FRR @dev thr (%)",
    "dev_eer": "dev EER (%)",
}
PERCENT_KEYS = frozenset(
    {"eer", "dev_eer", "accuracy_at_dev_thr", "far_at_dev_thr", "frr_at_dev_thr"}
)


def plot_det(
    systems: Mapping[str, pd.DataFrame], path: str | Path, title: str = "DET curve"
) -> None:
    """DET curves (columns far, frr) on normal-deviate axes with percent tick labels."""
    fig, ax = _figure()
    rates = np.concatenate([np.r_[d["far"], d["frr"]] for d in systems.values()])
    positive = rates[rates > 0]
    low = max(DET_RANGE[0], float(positive.min()) * 0.8) if positive.size else DET_RANGE[0]
    lim = (float(probit(low)), float(probit(DET_RANGE[1])))
    for name, det in systems.items():
        far, frr = det["far"].to_numpy(), det["frr"].to_numpy()
        (line,) = ax.plot(probit(far), probit(frr), label=name, linewidth=1.6)
        i = int(np.argmin(np.abs(far - frr)))  # the curve's equal-error point, for the eye
        ax.plot(probit(far[i]), probit(frr[i]), "o", color=line.get_color(), markersize=5)
    ax.plot(lim, lim, "--", color="0.6", linewidth=0.8, label="FAR = FRR")
    ticks = [p for p in DET_TICKS_PERCENT if low <= p / 100 <= DET_RANGE[1]]
    for set_ticks, set_labels in ((ax.set_xticks, ax.set_xticklabels),
                                  (ax.set_yticks, ax.set_yticklabels)):
        set_ticks(norm.ppf(np.array(ticks) / 100))
        set_labels([f"{p:g}" for p in ticks])
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    _finish(fig, ax, path, title, "False acceptance rate, spoof accepted (%)",
            "False rejection rate, bona fide rejected (%)")


def plot_roc(
    systems: Mapping[str, pd.DataFrame], path: str | Path, title: str = "ROC curve"
) -> None:
    """ROC curves (columns fpr, tpr), bona fide as the positive class."""
    fig, ax = _figure()
    for name, roc in systems.items():
        ax.plot(roc["fpr"], roc["tpr"], label=name, linewidth=1.6)
    ax.plot([0, 1], [0, 1], "--", color="0.6", linewidth=0.8, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    _finish(fig, ax, path, title, "False positive rate (spoof accepted)",
            "True positive rate (bona fide accepted)")


def plot_pr(
    systems: Mapping[str, pd.DataFrame], path: str | Path,
    title: str = "Precision-recall, bona fide as positive",
) -> None:
    """Precision-recall curves (columns recall, precision) drawn as staircases."""
    fig, ax = _figure()
    for name, pr in systems.items():
        ax.step(pr["recall"], pr["precision"], where="post", label=name, linewidth=1.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    _finish(fig, ax, path, title, "Recall", "Precision")


def plot_reliability(
    systems: Mapping[str, pd.DataFrame], path: str | Path,
    ece: Mapping[str, float] | None = None, title: str = "Reliability diagram",
) -> None:
    """Observed bona fide frequency against p(bona fide) = sigmoid(score), counts below.

    Columns: bin_low, bin_high, confidence, accuracy, count. ``ece`` (system -> value) is
    shown in the title.
    """
    fig = Figure(figsize=(6.4, 6.4), dpi=DPI)
    ax, ax_count = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for name, rel in systems.items():
        (line,) = ax.plot(rel["confidence"], rel["accuracy"], "o-", label=name, linewidth=1.4)
        centres = (rel["bin_low"] + rel["bin_high"]) / 2
        ax_count.step(centres, rel["count"], where="mid", color=line.get_color())
    ax.plot([0, 1], [0, 1], "--", color="0.6", linewidth=0.8, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Observed bona fide frequency (class-balanced)")
    ax_count.set_yscale("log")
    ax_count.set_ylabel("Utterances")
    ax_count.set_xlabel("Predicted p(bona fide) = sigmoid(score), equal priors")
    ax_count.grid(True, alpha=0.3)
    if ece:
        title += " - ECE " + ", ".join(
            f"{v:.3f}" if len(ece) == 1 else f"{k} {v:.3f}" for k, v in ece.items()
        )
    _finish(fig, ax, path, title, None, None)


def plot_histograms(
    systems: Mapping[str, pd.DataFrame], path: str | Path, title: str = "Score distributions"
) -> None:
    """One panel per system; each count column (class or attack) drawn as its share per bin.

    Shares rather than counts keep a small class visible beside a large one.
    """
    fig = Figure(figsize=(7.2, 3.2 * len(systems) + 0.6), dpi=DPI)
    axes = np.atleast_1d(fig.subplots(len(systems), 1, squeeze=False)[:, 0])
    for ax, (name, hist) in zip(axes, systems.items(), strict=True):
        for column in [c for c in hist.columns if c not in ("bin_low", "bin_high", "bin")]:
            counts = hist[column].to_numpy(dtype=np.float64)
            total = counts.sum()
            if total > 0:
                # bona fide in black so it stands out among the attacks
                style = {"color": "black"} if column == BONAFIDE else {}
                ax.step(hist["bin"], counts / total, where="mid", label=f"{column} (n={total:.0f})",
                        linewidth=1.3, **style)
        ax.set_title(name)
        ax.set_ylabel("Share of group")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", ncol=2)
    axes[-1].set_xlabel("Score (higher = more bona fide)")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_all(
    curves: Mapping[str, Mapping[str, pd.DataFrame]],
    out_dir: str | Path,
    metrics: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Path]:
    """Write det/roc/pr/reliability/hist_class/hist_attack PNGs comparing every system.

    ``curves`` maps system name -> the tables ``evaluation.evaluate_scores`` returns;
    ``metrics`` (same names -> flat metric dicts) adds EER / AUC / AP / ECE to the legends.
    """
    out = Path(out_dir)
    m = metrics or {}

    def label(name: str, key: str, fmt: str) -> str:
        value = m.get(name, {}).get(key)
        return name if value is None else f"{name} ({fmt.format(value)})"

    def pick(kind: str, key: str = "", fmt: str = "") -> dict[str, pd.DataFrame]:
        return {label(n, key, fmt) if key else n: c[kind] for n, c in curves.items()}

    paths = [out / f"{kind}.png" for kind in
             ("det", "roc", "pr", "reliability", "hist_class", "hist_attack")]
    plot_det(pick("det", "eer", "EER {:.2%}"), paths[0])
    plot_roc(pick("roc", "roc_auc", "AUC {:.3f}"), paths[1])
    plot_pr(pick("pr", "ap_bonafide", "AP {:.3f}"), paths[2])
    ece = {n: m[n]["ece"] for n in curves if "ece" in m.get(n, {})}
    plot_reliability(pick("reliability"), paths[3], ece=ece or None)
    plot_histograms(pick("hist_class"), paths[4], "Score distributions by class")
    plot_histograms(pick("hist_attack"), paths[5], "Score distributions by attack")
    return paths


def markdown_table(
    metrics: Mapping[str, Mapping[str, float]], keys: Sequence[str] = TABLE_KEYS, digits: int = 3
) -> str:
    """A system x metric markdown table; cells read ``value [low, high]`` when
    ``<key>_ci_low`` / ``<key>_ci_high`` exist. Rates in PERCENT_KEYS or ``eer_*`` print in %."""
    header = ["system", *(TABLE_NAMES.get(k, k) for k in keys)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system, flat in metrics.items():
        rows.append("| " + " | ".join([system, *(_cell(flat, k, digits) for k in keys)]) + " |")
    return "\n".join(rows) + "\n"


def paired_table(
    paired: Mapping[str, Mapping[str, float]], keys: Sequence[str], reference: str, unit: str,
    ci_level: float, digits: int = 3,
) -> str:
    """Markdown of ``reference - system`` per system (``<key>_diff`` with ``_ci_low``/``_ci_high``,
    as ``evaluation.paired`` writes them), under a sentence saying how to read it. Rate
    differences print in percentage points."""
    header = [f"{reference} - system",
              *(TABLE_NAMES.get(k, k).replace("(%)", "(pp)") for k in keys)]
    rows = [f"Paired differences, {reference} - system, on the same {unit} resamples "
            f"({ci_level:.0%} CIs in brackets); below 0, {reference} has the lower (better) value:",
            "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system, diff in paired.items():
        cells = [_cell(diff, f"{k}_diff", digits, signed=True) for k in keys]
        rows.append("| " + " | ".join([system, *cells]) + " |")
    return "\n".join(rows) + "\n"


def _cell(flat: Mapping[str, float], key: str, digits: int, signed: bool = False) -> str:
    if key not in flat:
        return "n/a"
    scale, places = (100.0, max(digits - 1, 0)) if _is_percent(key) else (1.0, digits)
    sign = "+" if signed else ""
    text = f"{flat[key] * scale:{sign}.{places}f}"
    low, high = flat.get(f"{key}_ci_low"), flat.get(f"{key}_ci_high")
    if low is not None and high is not None:
        text += f" [{low * scale:{sign}.{places}f}, {high * scale:{sign}.{places}f}]"
    return text


def _is_percent(key: str) -> bool:
    return key in PERCENT_KEYS or key.startswith("eer_")


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(6.4, 5.6), dpi=DPI)
    return fig, fig.subplots()


def _finish(fig: Figure, ax: Axes, path: str | Path, title: str,
            xlabel: str | None, ylabel: str | None) -> None:
    ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    _save(fig, path)


def _save(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
