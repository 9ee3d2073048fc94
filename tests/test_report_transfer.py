"""README blocks `crosseval` and `conditions`, rendered from their metrics files."""

from __future__ import annotations

from spectcontra.reporting.render import RENDERERS, render_blocks


def _flat(eer: float, **extra) -> dict:
    out = {}
    for key, value in {"eer": eer, "min_dcf": 0.5, "roc_auc": 0.8, "accuracy_at_dev_thr": 0.7,
                       **extra}.items():
        out.update({key: value, f"{key}_ci_low": value - 0.05, f"{key}_ci_high": value + 0.05})
    return out


PAIR = {"eer_diff": -0.1, "eer_diff_ci_low": -0.15, "eer_diff_ci_high": -0.02}


def test_crosseval_block_names_the_corpus_and_pairs_each_baseline():
    m = {"crosseval": {
        "corpus": {"source": "synthetic", "cross_corpus": True, "n_bonafide": 240,
                   "n_spoof": 360, "n_speakers": 10, "attacks": {"A05": 90, "A06": 90}},
        "bootstrap_unit": "speaker", "ci_level": 0.95,
        "systems": {"spectcontra": _flat(0.2), "lfcc_logreg": {**_flat(0.3), "paired": PAIR}},
        "not_scored": {"green_ai_wav2vec2": "not run (no weights)"}}}
    out = render_blocks("<!-- BEGIN:crosseval -->\n<!-- END:crosseval -->", m)
    assert "| spectcontra | 20.00 [15.00, 25.00] | 0.500 [0.450, 0.550] |" in out
    assert "| lfcc_logreg | 30.00 [25.00, 35.00] |" in out and "-10.00 [-15.00, -2.00] |" in out
    assert "attacks A05, A06" in out and "240 bona fide and 360 spoof files from 10 speakers" in out
    assert "`green_ai_wav2vec2`: not scored, not run (no weights)." in out
    assert "Not a cross-corpus test" not in out
    m["crosseval"]["corpus"]["cross_corpus"] = False
    assert "Not a cross-corpus test" in RENDERERS["crosseval"](m)


def test_conditions_block_shows_eer_change_from_clean_and_ours_minus_each_baseline():
    def row(eer: float, clean: bool) -> dict:
        ours = _flat(eer) | ({} if clean else {"vs_clean": PAIR})
        base = _flat(eer + 0.1) | {"paired": PAIR} | ({} if clean else {"vs_clean": PAIR})
        return {"spectcontra": ours, "lfcc_logreg": base}

    m = {"conditions": {
        "conditions": ["clean", "mp3", "telephone"],
        "settings": {"mp3_kbps": 32, "opus_kbps": 12, "noise_snr_db": 10.0},
        "bootstrap_unit": "speaker", "ci_level": 0.95,
        "results": {"clean": row(0.2, True), "mp3": row(0.25, False),
                    "telephone": row(0.3, False)},
        "not_scored": {}}}
    out = RENDERERS["conditions"](m)
    assert "| condition | spectcontra EER (%) | lfcc_logreg EER (%) |" in out
    assert "| MP3, 32 kbit/s | 25.00 [20.00, 30.00] | 35.00 [30.00, 40.00] |" in out
    assert "| telephone: 8 kHz, 300-3400 Hz, G.711 mu-law |" in out
    assert "| condition | ours - lfcc_logreg (pp) |" in out
    shift_table = out.split("EER change from clean")[1].split("Ours minus")[0]
    assert "| clean |" not in shift_table and "-10.00 [-15.00, -2.00]" in shift_table
    assert "not scored" not in out
