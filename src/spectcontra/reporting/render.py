"""Render README tables and MODEL_CARD.md from the files the pipeline wrote (metrics/)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spectcontra.errors import InputError
from spectcontra.experiments import ablation_report, label_efficiency_report

BLOCK = re.compile(r"(<!-- BEGIN:(\w+) -->\n)(.*?)(<!-- END:\2 -->)", re.S)


# Above this intact EER, occlusion effects are measured on a near-chance model: say so.
WEAK_EER = 0.3


class ReportError(InputError):
    """A metrics file the report needs is missing or malformed."""


def load_metrics(root: str | Path, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every JSON under ``root`` keyed by its relative path without .json (``energy/finetune``).

    ``exclude`` names keys to leave out, e.g. the report stage's own energy record, which
    does not exist yet when the report is rendered.
    """
    root = Path(root)
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("*.json")):
        key = path.relative_to(root).with_suffix("").as_posix()
        if key not in exclude:
            out[key] = json.loads(path.read_text())
    md = root / "comparison.md"
    if md.exists():
        out["comparison_md"] = md.read_text()
    return out


def _need(m: Mapping[str, Any], key: str) -> Any:
    if key not in m:
        raise ReportError(f"metrics/{key}.json is missing: run `dvc repro` first")
    return m[key]


def _pct(x: float | None, places: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{places}f}"


def _ci(flat: Mapping[str, Any], key: str, pct: bool = True, places: int = 2) -> str:
    f = (lambda v: _pct(v, places)) if pct else (lambda v: f"{v:.3f}")
    text = f(flat[key])
    if f"{key}_ci_low" in flat:
        text += f" [{f(flat[key + '_ci_low'])}, {f(flat[key + '_ci_high'])}]"
    return text


def machine(m: Mapping[str, Any]) -> str:
    prof = _need(m, "profile")
    return (f"{prof['cpu_count']}-core {prof['cpu_model']} (no GPU), torch {prof['torch_version']}, "
            f"Python {prof['python_version']}, {prof['threads_all']} threads unless stated")


RESAMPLING = {
    "speaker": "resampling eval speakers with replacement, then their utterances, within each "
               "class",
    "utterance": "resampling eval utterances with replacement within each class",
}


def results(m: Mapping[str, Any]) -> str:
    table = _need(m, "comparison_md")
    # absent from metrics written before the unit was recorded (all utterance bootstrap)
    unit = m.get("eval", {}).get("bootstrap_unit")
    how = f" ({RESAMPLING[unit]})" if unit else ""
    return (f"Eval split; 95% bootstrap CIs in brackets{how}; thresholded figures use the dev "
            "EER threshold.\n\n" + table)


def attacks(m: Mapping[str, Any]) -> str:
    comp = _need(m, "comparison")
    names = list(comp)
    ids = sorted({k.removeprefix("eer_attack_") for s in comp.values() for k in s
                  if k.startswith("eer_attack_") and not k.endswith(("_ci_low", "_ci_high"))})
    lines = ["| attack | " + " | ".join(f"{n} EER (%)" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for a in ids:
        cells = [_ci(comp[n], f"eer_attack_{a}") if f"eer_attack_{a}" in comp[n] else "-"
                 for n in names]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def shortcuts(m: Mapping[str, Any]) -> str:
    s = _need(m, "shortcuts")
    cues = [k.removeprefix("shortcut_eer_") for k in s if k.startswith("shortcut_eer_")]
    with_dev = all(f"shortcut_dev_eer_{c}" in s for c in cues)
    if with_dev:
        lines = ["| cue (fitted on train) | dev EER (%) | eval EER (%) | shortcut? |",
                 "|---|---|---|---|"]
    else:
        lines = ["| cue (fitted on train) | eval EER (%) | shortcut? |", "|---|---|---|"]
    for c in cues:
        flagged = s.get(f"shortcut_flag_{c}") or s.get(f"shortcut_dev_flag_{c}")
        flag = "**yes**" if flagged else "no"
        dev = f" {_pct(s[f'shortcut_dev_eer_{c}'], 1)} |" if with_dev else ""
        lines.append(f"| {c} |{dev} {_pct(s[f'shortcut_eer_{c}'], 1)} | {flag} |")
    lines.append(f"\nA cue is flagged when its dev or eval EER falls below "
                 f"{_pct(s['shortcut_threshold'], 0)}%; chance is 50%.")
    return "\n".join(lines) + "\n"


def cost(m: Mapping[str, Any]) -> str:
    p = _need(m, "profile")
    rows = [("spect-contra, PyTorch", "ours"), ("spect-contra, ONNX Runtime", "onnx"),
            ("LFCC + logistic regression", "classic"),
            ("frozen GE2E embedding (resemblyzer) + linear classifier", "pretrained_embedding"),
            ("wav2vec2-base front end", "wav2vec2")]
    lines = ["| system | params | size (MB) | MMACs / audio s | p50 1 s (ms) | p50 4 s (ms) "
             "| p95 4 s (ms) | p50 10 s (ms) | peak RSS (MB) | energy / 1000 clips (Wh) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, key in rows:
        def g(k: str, fmt: str = "{:.2f}") -> str:
            v = p.get(f"{key}_{k}")
            return "-" if v is None else fmt.format(v)
        size = p.get(f"{key}_state_dict_bytes", p.get(f"{key}_bytes"))
        macs = p.get(f"{key}_macs_per_audio_s")
        energy = p.get(f"{key}_energy_kwh_per_1000_utt")
        lines.append(
            f"| {label} | {g('params', '{:,}')} | {'-' if size is None else f'{size / 1e6:.2f}'} "
            f"| {'-' if macs is None else f'{macs / 1e6:,.0f}'} | {g('1s_1t_p50_ms')} "
            f"| {g('4s_1t_p50_ms')} | {g('4s_1t_p95_ms')} | {g('10s_1t_p50_ms')} "
            f"| {g('peak_rss_mb', '{:.0f}')} | {'-' if energy is None else f'{energy * 1e3:.3f}'} |")
    if "browser_4s_1t_p50_ms" in p:
        lines.append(f"| spect-contra, in the browser (onnxruntime-web, wasm) | - | - | - | - "
                     f"| {p['browser_4s_1t_p50_ms']:.2f} | - | - | - | - |")
    lines.append("")
    lines.append(f"One thread, batch 1, features included, {p['runs']} timed runs after "
                 f"{p['warmup']} warm-up runs. Peak RSS of a fresh process (VmHWM); a bare "
                 f"`import torch` of this CUDA wheel already peaks at {p['torch_import_rss_mb']:.0f} MB.")
    if "browser_4s_1t_p50_ms" in p:
        lines.append(f"The browser row is the same ONNX graph in headless {p['browser_version']}, "
                     "measured by the profile stage through the web app's own scoring code.")
    elif "browser_status" in p:
        lines.append(f"In-browser latency: {p['browser_status']}.")
    checks = [("p50 latency, 4 s clip, 1 thread <= "
               f"{p['target_p50_4s_1t_ms']:g} ms", p["meets_latency_target"],
               f"{p['ours_4s_1t_p50_ms']:.2f} ms")]
    if "speedup_vs_wav2vec2_4s_1t" in p:
        checks.append((f">= {p['target_speedup_vs_wav2vec2']:g}x faster than wav2vec2-base",
                       p["meets_speedup_target"], f"{p['speedup_vs_wav2vec2_4s_1t']:g}x"))
    checks.append((f"peak RSS of the inference process <= {p['target_peak_rss_mb']:g} MB",
                   p["meets_rss_target"], f"{p['ours_peak_rss_mb']:.0f} MB"))
    if "onnx_peak_rss_mb" in p:
        checks.append(("p50 latency, 4 s clip, 1 thread, ONNX Runtime route",
                       p["meets_latency_target_onnx"], f"{p['onnx_4s_1t_p50_ms']:.2f} ms"))
        if "speedup_vs_wav2vec2_4s_1t_onnx" in p:
            checks.append(("speed-up over wav2vec2-base, ONNX Runtime route",
                           p["meets_speedup_target_onnx"],
                           f"{p['speedup_vs_wav2vec2_4s_1t_onnx']:g}x"))
        checks.append(("peak RSS, ONNX Runtime route (no torch imported)",
                       p["meets_rss_target_onnx"], f"{p['onnx_peak_rss_mb']:.0f} MB"))
    lines.append("")
    lines.append("| target | measured | met? |")
    lines.append("|---|---|---|")
    for text, ok, value in checks:
        lines.append(f"| {text} | {value} | {'yes' if ok else '**no**'} |")
    if "int8_eer_cost" in p:
        lines.append("")
        lines.append(f"int8 dynamic quantisation (Linear layers outside the attention layer): "
                     f"4 s p50 {p['int8_4s_1t_p50_ms']:.2f} ms, eval EER "
                     f"{_pct(p['float32_eval_eer'])}% -> {_pct(p['int8_eval_eer'])}% "
                     f"(cost {100 * p['int8_eer_cost']:+.2f} pp), state dict "
                     f"{p['int8_state_dict_bytes'] / 1e6:.2f} MB.")
    return "\n".join(lines) + "\n"


def energy(m: Mapping[str, Any]) -> str:
    rows = {k.removeprefix("energy/"): v for k, v in m.items() if k.startswith("energy/")}
    if not rows:
        raise ReportError("metrics/energy/ is empty: run `dvc repro` first")
    lines = ["| stage | duration (s) | energy (Wh) | CO2eq (g) | how CodeCarbon measured |",
             "|---|---|---|---|---|"]
    total_s = total_wh = total_g = 0.0
    for stage, r in sorted(rows.items(), key=lambda kv: kv[0]):
        if r.get("measured"):
            wh, g = r["energy_kwh"] * 1e3, r["co2eq_kg"] * 1e3
            total_wh, total_g = total_wh + wh, total_g + g
            how = f"{r['power_source']}, {r['tracking_mode']} mode"
            lines.append(f"| {stage} | {r['duration_s']:.1f} | {wh:.3f} | {g:.3f} | {how} |")
        else:
            lines.append(f"| {stage} | {r['duration_s']:.1f} | - | - | not measured: {r['reason']} |")
        total_s += r["duration_s"]
    lines.append(f"| **total** | {total_s:.1f} | {total_wh:.3f} | {total_g:.3f} | |")
    lines.append("\n`cpu:cpu_load` means no RAPL counters: CodeCarbon estimated CPU power from "
                 "load and a TDP table, so these are estimates, not meter readings. CO2eq uses "
                 "the GBR grid intensity.")
    return "\n".join(lines) + "\n"


def ablation(m: Mapping[str, Any]) -> str:
    summary = _need(m, "ablation")
    return ablation_report.markdown_table(summary["variants"] if "variants" in summary else summary)


def ablation_verdict(m: Mapping[str, Any]) -> str:
    summary = _need(m, "ablation")
    return ablation_report.verdict(summary["variants"] if "variants" in summary else summary)


def explain(m: Mapping[str, Any]) -> str:
    top = _need(m, "explain")["top_band"]
    lines = ["| view | most important band | EER, intact (%) | EER, band occluded (%) "
             "| mean abs score change |", "|---|---|---|---|---|"]
    for view, b in top.items():
        lines.append(f"| {view} | {b['f_low_hz'] / 1e3:.2f}-{b['f_high_hz'] / 1e3:.2f} kHz "
                     f"| {_pct(b['base_eer'])} | {_pct(b['base_eer'] + b['delta_eer'])} "
                     f"| {b['mean_abs_delta_score']:.3f} |")
    view, b = max(top.items(), key=lambda kv: kv[1]["delta_eer"])
    lines.append(f"\nOf all single bands, occluding {b['f_low_hz'] / 1e3:.2f}-"
                 f"{b['f_high_hz'] / 1e3:.2f} kHz of the {view} view hurts most: EER on the "
                 "occlusion subset of eval goes "
                 f"from {_pct(b['base_eer'])}% to {_pct(b['base_eer'] + b['delta_eer'])}%, so "
                 "that is where this model finds most of its evidence.")
    if b["base_eer"] > WEAK_EER:
        lines.append(f"With the intact EER at {_pct(b['base_eer'])}% on this subset, the model is "
                     "close to chance here, so these band rankings say little.")
    return "\n".join(lines) + "\n"


def model(m: Mapping[str, Any]) -> str:
    ft, pre, prof = _need(m, "finetune"), _need(m, "pretrain"), _need(m, "profile")
    return (f"- Parameters at inference: {ft['detector_params']:,} "
            f"({ft['trainable_params']:,} trained in fine-tuning); encoder {pre['encoder_params']:,}.\n"
            f"- Checkpoint: {ft['model_bytes'] / 1e3:.0f} kB, carrying its config, feature "
            f"settings, normalisation statistics, calibration and threshold.\n"
            f"- Pretraining: {pre['epochs']} epochs per seed, {pre['seeds']} seeds; final "
            f"contrastive loss {pre['final_loss_mean']:.3f} on average (L_SA "
            f"{pre['final_l_sa_mean']:.3f}, L_CA {pre['final_l_ca_mean']:.3f}).\n"
            f"- Shipped: seed {ft['shipped_seed']}, the median dev EER of the seeds; epoch "
            f"{ft['selected_epoch']} selected on dev; dev EER "
            f"{_pct(ft['dev_eer'])}%; decision threshold (dev EER point, calibrated LLR) "
            f"{ft['dev_threshold']:.3f}.\n"
            f"- Compute: {prof['ours_macs_per_audio_s'] / 1e6:.0f} MMACs per second of audio.\n")


def data(m: Mapping[str, Any]) -> str:
    pre, ev = _need(m, "preprocess"), _need(m, "eval")
    return (f"- Utterances used: train {pre['n_train']:,}, dev {pre['n_dev']:,}, "
            f"eval {pre['n_eval']:,} ({ev['n_bonafide']:,} bona fide, {ev['n_spoof']:,} spoof in "
            f"eval); {pre['n_skipped']} skipped as bad audio.\n")


def detect_png(m: Mapping[str, Any]) -> str:
    """The first correctly detected spoof among the explain stage's figures (else the first)."""
    figures = _need(m, "explain").get("figures", [])
    if not figures:
        return "(no detection figure: run the explain stage)\n"
    right = [f for f in figures if f["label"] == "spoof" and f["decision"] == "spoof"]
    f = (right or figures)[0]
    return (f"![a detection PNG: log-mel spectrogram with window scores and saliency maps "
            f"({f['label']}, attack {f['attack']}, decided {f['decision']})]({f['png']})\n")


def corpus(m: Mapping[str, Any]) -> str:
    c = _need(m, "corpus")
    splits = c["splits"]
    attacks = sorted({a for s in splits.values() for a in s["attacks"]})
    lines = ["| split | speakers | hours | clips | bona fide | " + " | ".join(attacks) + " |",
             "|---|---|---|---|---|" + "---|" * len(attacks)]
    for name, s in splits.items():
        cells = [str(s["attacks"].get(a, "-")) for a in attacks]
        lines.append(f"| {name} | {s['speakers']} | {s['hours']:.2f} | {s['clips']:,} "
                     f"| {s['bonafide']:,} | " + " | ".join(cells) + " |")
    lines.append(f"\n{c['total_clips']:,} clips, {c['total_hours']:.2f} h, "
                 f"{c['total_speakers']} speakers in all.")
    if "languages" in c:
        lines.append("Clips per language: " + ", ".join(f"{k} {v}" for k, v in
                                                         c["languages"].items()) + ".")
    return "\n".join(lines) + "\n"


def label_efficiency(m: Mapping[str, Any]) -> str:
    le = _need(m, "label_efficiency")
    return (label_efficiency_report.markdown_table(le["fractions"])
            + f"\n{len(le['seeds'])} paired seeds; {le['steps']} optimiser steps per fine-tuning "
            f"run at every fraction; intervals resample {le['resampling']}.\n")


def headline(m: Mapping[str, Any]) -> str:
    """The number to quote: our recipe's eval EER averaged over its training seeds, the shipped
    seed's, and every baseline's, with ours - baseline as a paired interval."""
    comp, seeds, ft = _need(m, "comparison"), _need(m, "seeds"), _need(m, "finetune")
    ours, summ = comp["spectcontra"], seeds["summary"]
    n = len(seeds["seeds"])

    def mean_ci(key: str, pct: bool = True) -> str:
        f = _pct if pct else (lambda v: f"{v:.3f}")
        return (f"{f(summ[key + '_seed_mean'])} [{f(summ[key + '_seed_pooled_ci_low'])}, "
                f"{f(summ[key + '_seed_pooled_ci_high'])}]")

    lines = ["| system | eval EER (%) | minDCF | Cllr | ROC-AUC | ours - system, EER (pp) |",
             "|---|---|---|---|---|---|",
             f"| **spect-contra, mean of {n} seeds** | **{mean_ci('eer')}** | {mean_ci('min_dcf', False)} "
             f"| {mean_ci('cllr', False)} | {mean_ci('roc_auc', False)} | - |",
             f"| spect-contra, shipped model (seed {ft['shipped_seed']}) | {_ci(ours, 'eer')} "
             f"| {_ci(ours, 'min_dcf', False)} | {_ci(ours, 'cllr', False)} "
             f"| {_ci(ours, 'roc_auc', False)} | - |"]
    for name, flat in sorted(comp.items()):
        pair = flat.get("paired")
        if name == "spectcontra" or not pair:
            continue
        d, low, high = (pair[k] * 100 for k in ("eer_diff", "eer_diff_ci_low", "eer_diff_ci_high"))
        lines.append(f"| {name} | {_ci(flat, 'eer')} | {_ci(flat, 'min_dcf', False)} "
                     f"| {_ci(flat, 'cllr', False)} | {_ci(flat, 'roc_auc', False)} "
                     f"| {d:+.2f} [{low:+.2f}, {high:+.2f}] |")
    unit = RESAMPLING.get(seeds["bootstrap_unit"], seeds["bootstrap_unit"])
    lines.append(
        f"\nWhole-file scores (the path `spectcontra detect` runs). Brackets: 95% bootstrap "
        f"intervals ({unit}); for the seed mean, every seed is scored on each resample. Across "
        f"the {n} training seeds alone, the eval EER's 95% t-interval is "
        f"[{_pct(summ['eer_seed_t_ci_low'])}, {_pct(summ['eer_seed_t_ci_high'])}]% "
        f"(sd {_pct(summ['eer_seed_sd'])} pp). The paired column is the seed-mean EER minus the "
        "baseline's on the same resamples; below 0 favours spect-contra. **Quote the seed mean** "
        "for the recipe, and the shipped model's row for the file in `models/`; the shipped "
        "seed was chosen as the median dev EER, never on eval.")
    return "\n".join(lines) + "\n"


def pipeline(m: Mapping[str, Any]) -> str:
    """Fresh-clone `make repro` time and the forced full run (metrics/pipeline.json), and, when
    recorded, a fresh clone on another kind of CPU (metrics/pipeline_cross_cpu.json)."""
    text = _pipeline_record(_need(m, "pipeline"))
    if "pipeline_cross_cpu" in m:
        text += ("\nThe same measurement of an earlier commit, whose `dvc.lock` was made on a "
                 "different CPU (`metrics/pipeline_cross_cpu.json`):\n\n"
                 + _pipeline_record(m["pipeline_cross_cpu"]))
    return text


def _machine_name(mach: Mapping[str, Any]) -> str:
    simd = mach.get("simd")
    flags = "" if simd is None else f"; SIMD: {', '.join(simd) or 'none listed'}"
    return f"{mach['cores']} cores ({mach['cpu_model']}{flags})"


def _stage_list(names: list[str]) -> str:
    """Stage names, the instances of a DVC ``foreach`` stage (``base@item``) as one entry."""
    counts: dict[str, int] = {}
    for name in names:
        base = name.split("@")[0] + ("@" if "@" in name else "")
        counts[base] = counts.get(base, 0) + 1
    return ", ".join(f"{b}* ({n} stages)" if b.endswith("@") else b for b, n in counts.items())


def _pipeline_record(p: Mapping[str, Any]) -> str:
    fc, full, mach = p["fresh_clone"], p["forced_full_run"], p["machine"]
    run = ", ".join(f"{s} {v:.0f} s" for s, v in fc["stages_run"].items())
    verdict = "within" if fc["within_budget"] else "**over**"
    lines = [
        f"- Fresh clone of commit `{p['commit'][:7]}`, `make repro` on {_machine_name(mach)}, "
        f"nothing else running: **{fc['total_s'] / 60:.1f} min** ({verdict} the "
        f"{fc['budget_s'] / 60:.0f} min budget): install {fc['install_s']:.0f} s, pipeline "
        f"{fc['repro_s']:.0f} s.",
        f"- Stages it ran: {run}.",
        f"- Stages it skipped, because their inputs reproduced byte for byte and their outputs "
        f"are committed: {', '.join(fc['stages_skipped']) or 'none'}.",
    ]
    changed = fc.get("outputs_changed") or []
    # checked by the measurement (pipeline_time.timing_only); an older record without the check
    # counts only the energy records, which hold nothing but timings
    timing = fc.get("outputs_timing_only",
                    [o for o in changed if o.startswith("metrics/energy/")])
    other = [o for o in changed if o not in timing]
    if other:
        lines.append("- Outputs it rebuilt with other bytes than the committed `dvc.lock` "
                     f"records: {', '.join(other)}; every stage that reads them ran again.")
    if timing:
        lines.append("- Outputs that differ only because they hold timings (the energy records, "
                     "and the model card where only its energy table differs): "
                     f"{', '.join(timing)}.")
    where = (f" (records made on {', '.join(full['cpu_models'])})"
             if full.get("cpu_models") else "")
    studies_where = (f", records made on {', '.join(full['studies_cpu_models'])}"
                     if full.get("studies_cpu_models") else "")
    lines.append(f"- Forced full run (`dvc repro --force report`, each stage's last recorded "
                 f"duration{where}): {full['default_pipeline_s'] / 60:.0f} min; with the long "
                 f"studies ({_stage_list(full['studies']) or 'none'}{studies_where}): "
                 f"{full['total_s'] / 60:.0f} min.")
    return "\n".join(lines) + "\n"


def train_step(m: Mapping[str, Any]) -> str:
    """Where a fine-tuning step's time goes, per threads x allocator (metrics/train_step.json,
    written on request by ``python -m spectcontra.profiling.train_step``)."""
    ts = _need(m, "train_step")
    rows = list(ts["settings"].values())
    epoch = all("epoch_s" in r for r in rows)
    head = ("| torch threads | allocator | ms per step | of which system (kernel) ms | minor page "
            "faults per step | float16 -> float32 ms per batch |"
            + (" one fine-tuning epoch s |" if epoch else ""))
    lines = [head, "|---" * (7 if epoch else 6) + "|"]
    def spread(r: Mapping[str, Any], key: str, fmt: str) -> str:
        runs = r.get(f"{key}_runs", [])
        return (f"{r[key]:{fmt}}" if len(runs) < 2
                else f"{r[key]:{fmt}} ({min(runs):{fmt}}-{max(runs):{fmt}})")

    for r in sorted(rows, key=lambda r: (r["threads"], r["allocator"])):
        line = (f"| {r['threads']} | {r['allocator']} | {spread(r, 'ms_per_step', '.0f')} "
                f"| {r['system_ms_per_step']:.0f} | {r['minor_faults_per_step']:,.0f} "
                f"| {r['float16_to_float32_ms_per_batch']:.1f} |")
        lines.append(line + (f" {spread(r, 'epoch_s', '.1f')}, system "
                             f"{r['epoch_system_s']:.1f} |" if epoch else ""))
    r0, repeats = rows[0], ts.get("repeats", 1)
    runs = (f"medians of {repeats} runs per setting (in brackets: the fastest and slowest run)"
            if repeats > 1 else "one run per setting")
    return ("\n".join(lines) + f"\n\nBatch {r0['batch_size']} x {len(r0['views'])} views x "
            f"{r0['frames']} frames, {ts['steps']} timed steps after {ts['warmup']} warm-up steps;"
            f" {runs}; on {_machine_name(ts['machine'])}.\n")


def scale(m: Mapping[str, Any]) -> str:
    """Peak memory of preprocess and fine-tuning at ASVspoof 2019 LA size (metrics/scale.json)."""
    sc = _need(m, "scale")
    c, mach = sc["corpus"], sc["machine"]
    lines = ["| step | peak RSS (MB) | fixed cost: RSS after imports (MB) | working memory (MB) "
             f"| under the {sc['memory_budget_mb']} MB budget? | wall time (s) |",
             "|---|---|---|---|---|---|"]
    for step, what in (("preprocess", "preprocess (features of every split)"),
                       ("finetune", f"fine-tuning ({sc['finetune']['steps']} steps, "
                                    "then dev scoring)")):
        r = sc[step]
        lines.append(f"| {what} | {r['peak_rss_mb']:.0f} | {r['fixed_rss_mb']:.0f} "
                     f"| {r['working_mb']:.0f} | {'yes' if r['under_budget'] else '**no**'} "
                     f"| {r['seconds']:.0f} |")
    return ("\n".join(lines) + f"\n\nCorpus: {c['utterances']:,} generated utterances (train "
            f"{c['train_utterances']:,}, dev {c['dev_utterances']:,}, eval "
            f"{c['eval_utterances']:,}: ASVspoof 2019 LA's sizes), {c['hours']:.1f} h of audio, "
            f"{c['feature_bytes'] / 1e9:.2f} GB of features on disk; {mach['cores']} cores "
            f"({mach['cpu_model']}), {mach['torch_threads']} torch threads. The budget bounds the "
            "working memory (peak minus the process's fixed cost, mostly torch itself).\n")


def seeds_table(m: Mapping[str, Any]) -> str:
    """Per-seed dev and eval figures (metrics/seeds.json)."""
    seeds, ft = _need(m, "seeds"), _need(m, "finetune")
    lines = ["| seed | dev EER (%) | eval EER (%) | minDCF | Cllr | ROC-AUC | |",
             "|---|---|---|---|---|---|---|"]
    for s, v in seeds["per_seed"].items():
        mark = "shipped (median dev EER)" if int(s) == ft["shipped_seed"] else ""
        lines.append(f"| {s} | {_pct(v['dev_eer'])} | {_pct(v['eer'])} | {v['min_dcf']:.3f} "
                     f"| {v['cllr']:.3f} | {v['roc_auc']:.3f} | {mark} |")
    return "\n".join(lines) + "\n"


def comparison_verdict(m: Mapping[str, Any]) -> str:
    """One line per baseline: does ours beat it on eval EER, by the paired interval alone?"""
    comp = _need(m, "comparison")
    lines = []
    for name, flat in sorted(comp.items()):
        pair = flat.get("paired")
        if not pair:
            continue
        d, low, high = (pair[k] * 100 for k in ("eer_diff", "eer_diff_ci_low", "eer_diff_ci_high"))
        verdict = ("lower EER than" if high < 0 else "higher EER than" if low > 0
                   else "no EER difference the interval can resolve from")
        lines.append(f"- spect-contra (seed mean) has {verdict} `{name}`: {d:+.2f} pp "
                     f"[{low:+.2f}, {high:+.2f}].")
    return "\n".join(lines) + "\n"


def label_verdict(m: Mapping[str, Any]) -> str:
    """One sentence on what pretraining buys, from (b) - (a) intervals alone."""
    fr = _need(m, "label_efficiency")["fractions"]
    groups: dict[str, list[str]] = {"better": [], "worse": [], "same": []}
    for f in sorted(fr, key=float):
        b = fr[f]["pretrained_finetune"]
        kind = ("better" if b["diff_ci_high"] < 0 else "worse" if b["diff_ci_low"] > 0
                else "same")
        groups[kind].append(f"{float(f) * 100:g}% ({b['diff_vs_supervised'] * 100:+.1f} pp "
                            f"[{b['diff_ci_low'] * 100:+.1f}, {b['diff_ci_high'] * 100:+.1f}])")
    parts = []
    if groups["better"]:
        parts.append("lowers eval EER at " + ", ".join(groups["better"]) + " of the labels")
    if groups["worse"]:
        parts.append("raises it at " + ", ".join(groups["worse"]))
    if groups["same"]:
        parts.append("shows no difference the intervals can resolve at " + ", ".join(groups["same"]))
    return ("**What contrastive pretraining buys here:** against the same detector trained from "
            "random init with the same steps, it " + "; ".join(parts) + ".\n")


def _pp(pair: Mapping[str, Any], key: str = "eer") -> str:
    """A paired difference in percentage points with its interval: ``+1.80 [-0.50, +4.00]``."""
    d, low, high = (pair[f"{key}_diff{s}"] * 100 for s in ("", "_ci_low", "_ci_high"))
    return f"{d:+.2f} [{low:+.2f}, {high:+.2f}]"


def _grid(rows: list[tuple[str, list[str]]], header: str, names: list[str]) -> list[str]:
    return ([f"| {header} | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows])


def _ours_first(systems: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """System names, ours (the one not paired with ours) first, then the baselines by name."""
    return sorted(systems, key=lambda n: ("paired" in systems[n], n))


def _not_scored(skipped: Mapping[str, str]) -> str:
    lines = "".join(f"\n- `{name}`: not scored, {why}." for name, why in skipped.items())
    return "\n" + lines if lines else ""


def crosseval(m: Mapping[str, Any]) -> str:
    """Every shipped system on the second corpus (metrics/crosseval.json)."""
    ce = _need(m, "crosseval")
    corpus, systems = ce["corpus"], ce["systems"]
    attacks = ", ".join(corpus["attacks"])
    if corpus["source"] == "synthetic":
        what = (f"the synthetic generator's eval split, rendered with its own seed: new voices, "
                f"attacks {attacks}")
    else:
        what = f"the folder corpus `{corpus['csv']}` (attacks: {attacks})"
    lines = ["| system | EER (%) | minDCF | ROC-AUC | accuracy at the dev threshold (%) "
             "| ours - system, EER (pp) |", "|---|---|---|---|---|---|"]
    for name in _ours_first(systems):
        flat = systems[name]
        pair = _pp(flat["paired"]) if "paired" in flat else "-"
        lines.append(f"| {name} | {_ci(flat, 'eer')} | {_ci(flat, 'min_dcf', False)} "
                     f"| {_ci(flat, 'roc_auc', False)} | {_ci(flat, 'accuracy_at_dev_thr')} "
                     f"| {pair} |")
    unit = RESAMPLING.get(ce["bootstrap_unit"], ce["bootstrap_unit"])
    text = ("\n".join(lines) + f"\n\nCorpus: {what}; {corpus['n_bonafide']} bona fide and "
            f"{corpus['n_spoof']} spoof files from {corpus['n_speakers']} speakers. Each system "
            "keeps its calibration and its dev EER threshold from the main corpus (nothing is "
            f"tuned on this corpus). Brackets: {ce['ci_level']:.0%} bootstrap intervals ({unit}).")
    if not corpus["cross_corpus"]:
        text += ("\n\n**Not a cross-corpus test:** training also used the synthetic generator, "
                 "so only the voices and utterances are new.")
    return text + _not_scored(ce["not_scored"]) + "\n"


CONDITION_LABELS = {"clean": lambda s: "clean",
                    "mp3": lambda s: f"MP3, {s['mp3_kbps']} kbit/s",
                    "opus": lambda s: f"Opus, {s['opus_kbps']} kbit/s",
                    "telephone": lambda s: "telephone: 8 kHz, 300-3400 Hz, G.711 mu-law",
                    "noise": lambda s: f"white noise, {s['noise_snr_db']:g} dB SNR"}


def conditions(m: Mapping[str, Any]) -> str:
    """Eval EER under channel conditions, its change from clean, and ours - each system
    (metrics/conditions.json)."""
    co = _need(m, "conditions")
    res = co["results"]
    names = _ours_first(res["clean"])
    label = {c: CONDITION_LABELS[c](co["settings"]) for c in co["conditions"]}
    degraded = [c for c in co["conditions"] if c != "clean"]
    baselines = [n for n in names if "paired" in res["clean"][n]]
    eer = _grid([(label[c], [_ci(res[c][n], "eer") for n in names]) for c in co["conditions"]],
                "condition", [f"{n} EER (%)" for n in names])
    shift = _grid([(label[c], [_pp(res[c][n]["vs_clean"]) for n in names]) for c in degraded],
                  "condition", [f"{n}: change (pp)" for n in names])
    versus = _grid([(label[c], [_pp(res[c][n]["paired"]) for n in baselines])
                    for c in co["conditions"]], "condition",
                   [f"ours - {n} (pp)" for n in baselines])
    accuracy = _grid([(label[c], [_ci(res[c][n], "accuracy_at_dev_thr") for n in names])
                      for c in co["conditions"]], "condition", [f"{n} (%)" for n in names])
    unit = RESAMPLING.get(co["bootstrap_unit"], co["bootstrap_unit"])
    return ("\n".join(eer) + "\n\nEER change from clean, same system and files (paired):\n\n"
            + "\n".join(shift) + "\n\nOurs minus each baseline, EER, same condition (paired; "
            "below 0 favours spect-contra):\n\n" + "\n".join(versus)
            + "\n\nAccuracy at each system's clean dev threshold (nothing re-tuned per "
            "condition):\n\n" + "\n".join(accuracy)
            + f"\n\nThe eval split of the main corpus; brackets: {co['ci_level']:.0%} bootstrap "
            f"intervals ({unit}).{_not_scored(co['not_scored'])}\n")


RENDERERS = {"comparison_verdict": comparison_verdict, "corpus": corpus, "headline": headline,
             "seeds": seeds_table, "pipeline": pipeline,
             "detect_png": detect_png, "label_efficiency": label_efficiency,
             "label_verdict": label_verdict, "machine": machine, "results": results,
             "attacks": attacks, "shortcuts": shortcuts, "cost": cost, "energy": energy,
             "ablation": ablation, "ablation_verdict": ablation_verdict, "explain": explain,
             "model": model, "data": data,
             "crosseval": crosseval, "conditions": conditions, "scale": scale,
             "train_step": train_step}


def render_blocks(text: str, m: Mapping[str, Any]) -> str:
    """Replace every ``<!-- BEGIN:name -->...<!-- END:name -->`` block with fresh content."""
    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in RENDERERS:
            raise ReportError(f"unknown README block {name!r}; known: {sorted(RENDERERS)}")
        return match.group(1) + RENDERERS[name](m) + match.group(4)

    return BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spectcontra.reporting.render", description=__doc__)
    p.add_argument("--metrics-dir", type=Path, default=Path("metrics"))
    p.add_argument("files", type=Path, nargs="+", help="Markdown files with BEGIN/END blocks")
    p.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = p.parse_args(argv)
    m = load_metrics(args.metrics_dir)
    stale = []
    for path in args.files:
        old = path.read_text()
        new = render_blocks(old, m)
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(f"out of date with {args.metrics_dir}: {', '.join(map(str, stale))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
