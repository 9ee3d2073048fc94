"""README and MODEL_CARD tables are rendered from metrics/, so they cannot drift."""

from __future__ import annotations

import json

import pytest

from spectcontra.reporting.render import (
    RENDERERS,
    ReportError,
    load_metrics,
    render_blocks,
)
from tests.conftest import ROOT


def test_readme_tables_match_the_committed_metrics() -> None:
    readme = (ROOT / "README.md").read_text()
    fresh = render_blocks(readme, load_metrics(ROOT / "metrics"))
    assert fresh == readme, "README.md is stale: run `python -m spectcontra.reporting.render README.md`"


def test_every_readme_block_has_a_renderer_and_content() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in RENDERERS:
        if f"<!-- BEGIN:{name} -->" in readme:
            body = readme.split(f"<!-- BEGIN:{name} -->\n")[1].split(f"<!-- END:{name} -->")[0]
            assert body.strip(), f"README block {name} is empty"


def test_blocks_are_replaced_and_unknown_blocks_refused(tmp_path) -> None:
    (tmp_path / "energy").mkdir()
    (tmp_path / "energy" / "x.json").write_text(json.dumps(
        {"stage": "x", "duration_s": 2.0, "measured": True, "energy_kwh": 0.001,
         "co2eq_kg": 0.0002, "power_source": "cpu:cpu_load", "tracking_mode": "process"}))
    m = load_metrics(tmp_path)
    out = render_blocks("a\n<!-- BEGIN:energy -->\nold\n<!-- END:energy -->\nb\n", m)
    assert "old" not in out and "| x | 2.0 | 1.000 | 0.200 |" in out
    with pytest.raises(ReportError, match="unknown README block 'nope'"):
        render_blocks("<!-- BEGIN:nope -->\n<!-- END:nope -->", m)
    with pytest.raises(ReportError, match="metrics/profile.json is missing"):
        render_blocks("<!-- BEGIN:cost -->\n<!-- END:cost -->", m)


def test_the_reports_own_energy_record_can_be_left_out(tmp_path) -> None:
    (tmp_path / "energy").mkdir()
    (tmp_path / "energy" / "report.json").write_text("{}")
    (tmp_path / "eval.json").write_text("{}")
    assert set(load_metrics(tmp_path, exclude=frozenset({"energy/report"}))) == {"eval"}


def test_results_name_the_resampling_unit_and_attacks_show_their_intervals() -> None:
    flat = {"eer_attack_A05": 0.1, "eer_attack_A05_ci_low": 0.05, "eer_attack_A05_ci_high": 0.2}
    m = {"comparison_md": "TABLE\n", "eval": {"bootstrap_unit": "speaker"},
         "comparison": {"ours": flat, "old": {"eer_attack_A05": 0.3}}}
    out = render_blocks("<!-- BEGIN:results -->\n<!-- END:results -->\n"
                        "<!-- BEGIN:attacks -->\n<!-- END:attacks -->\n", m)
    assert "resampling eval speakers with replacement, then their utterances" in out
    assert "| attack | ours EER (%) | old EER (%) |" in out
    assert "| A05 | 10.00 [5.00, 20.00] | 30.00 |" in out
    assert "A05_ci" not in out  # interval keys are not attacks
    # metrics written before the unit was recorded render as before
    older = render_blocks("<!-- BEGIN:results -->\n<!-- END:results -->", {"comparison_md": "T\n"})
    assert "CIs in brackets; thresholded" in older


def _le_row(diff: float, low: float, high: float) -> dict:
    return {"eer_mean": 0.2, "eer_ci_low": 0.15, "eer_ci_high": 0.25, "diff_vs_supervised": diff,
            "diff_ci_low": low, "diff_ci_high": high}


def test_label_verdict_claims_only_what_the_intervals_exclude() -> None:
    fractions = {"0.01": {"pretrained_finetune": _le_row(-0.08, -0.12, -0.03)},
                 "0.1": {"pretrained_finetune": _le_row(-0.01, -0.04, 0.02)},
                 "1": {"pretrained_finetune": _le_row(0.03, 0.01, 0.05)}}
    text = RENDERERS["label_verdict"]({"label_efficiency": {"fractions": fractions}})
    assert "lowers eval EER at 1% (-8.0 pp [-12.0, -3.0])" in text
    assert "raises it at 100% (+3.0 pp" in text
    assert "no difference the intervals can resolve at 10%" in text


def test_corpus_and_detection_figure_blocks() -> None:
    corpus = {"splits": {"train": {"clips": 3, "hours": 0.5, "speakers": 2, "bonafide": 1,
                                   "spoof": 2, "attacks": {"V01": 2}},
                         "eval": {"clips": 2, "hours": 0.25, "speakers": 1, "bonafide": 1,
                                  "spoof": 1, "attacks": {"V05": 1}}},
              "total_clips": 5, "total_hours": 0.75, "total_speakers": 3}
    table = RENDERERS["corpus"]({"corpus": corpus})
    assert "| train | 2 | 0.50 | 3 | 1 | 2 | - |" in table
    assert "| eval | 1 | 0.25 | 2 | 1 | - | 1 |" in table
    figures = [{"png": "plots/detect/a.png", "label": "bonafide", "attack": "-",
                "decision": "bonafide", "role": "best"},
               {"png": "plots/detect/b.png", "label": "spoof", "attack": "V05",
                "decision": "spoof", "role": "best"}]
    assert "(plots/detect/b.png)" in RENDERERS["detect_png"]({"explain": {"figures": figures}})


def test_comparison_verdict_follows_the_paired_interval() -> None:
    comp = {"spectcontra": {},
            "lfcc": {"paired": {"eer_diff": -0.09, "eer_diff_ci_low": -0.15, "eer_diff_ci_high": -0.01}},
            "sup": {"paired": {"eer_diff": -0.01, "eer_diff_ci_low": -0.05, "eer_diff_ci_high": 0.04}}}
    text = RENDERERS["comparison_verdict"]({"comparison": comp})
    assert "lower EER than `lfcc`: -9.00 pp [-15.00, -1.00]" in text
    assert "no EER difference the interval can resolve from `sup`" in text
    assert "spectcontra`" not in text
