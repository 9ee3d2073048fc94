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
