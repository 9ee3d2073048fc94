"""Green AI baseline: real loading and fitting code, run on a tiny random wav2vec2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from spectcontra.baselines import green_ai


def tiny_wav2vec2() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchaudio.models.wav2vec2_model(
        extractor_mode="group_norm", extractor_conv_layer_config=[(16, 10, 5), (16, 3, 2)],
        extractor_conv_bias=False, encoder_embed_dim=32, encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4, encoder_num_layers=3,
        encoder_num_heads=2, encoder_attention_dropout=0.0, encoder_ff_interm_features=64,
        encoder_ff_interm_dropout=0.0, encoder_dropout=0.0, encoder_layer_norm_first=False,
        encoder_layer_drop=0.0, aux_num_out=None,
    ).eval()


def _toy_waves(n: int, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    y = np.arange(n) % 2
    t = np.arange(4000) / 16000
    waves = [
        (np.sin(2 * np.pi * (300 if label else 2500) * t + rng.uniform(0, 6))
         + 0.3 * rng.standard_normal(t.size)).astype(np.float32)
        for label in y
    ]
    return waves, y


def test_local_checkpoint_round_trip(tmp_path) -> None:
    model = tiny_wav2vec2()
    torch.save(model.state_dict(), tmp_path / "w2v.pt")
    loaded = green_ai.load_frontend("w2v.pt", tmp_path, builder=tiny_wav2vec2)
    x = torch.randn(1, 4000)
    a, _ = model.extract_features(x)
    b, _ = loaded.extract_features(x)
    assert torch.equal(a[-1], b[-1])


def test_missing_weights_are_reported_not_faked(tmp_path, monkeypatch) -> None:
    with pytest.raises(green_ai.WeightsUnavailable, match="does not exist"):
        green_ai.load_frontend("nope.pt", tmp_path)

    def offline() -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(torchaudio.pipelines.WAV2VEC2_BASE, "get_model", offline)
    with pytest.raises(green_ai.WeightsUnavailable, match="could not be downloaded"):
        green_ai.load_frontend("", tmp_path)


def test_layer_selection_on_dev_separates_a_toy_task() -> None:
    rng = np.random.default_rng(0)
    model = tiny_wav2vec2()
    sets = [_toy_waves(24, rng) for _ in range(3)]
    emb = [green_ai.layer_embeddings(model, waves, [1, 3]) for waves, _ in sets]
    assert emb[0][1].shape == (24, 32)
    result = green_ai.fit_select_score(emb[0], sets[0][1], emb[1], sets[1][1], emb[2],
                                       ["logreg", "svm"], seed=0)
    assert result.layer in (1, 3) and result.classifier in ("logreg", "svm")
    y_eval = sets[2][1]
    assert result.eval_scores[y_eval == 1].mean() > result.eval_scores[y_eval == 0].mean()
    assert result.dev_eer <= 0.1


def test_layer_zero_is_refused_not_read_as_the_last_layer() -> None:
    waves = [np.zeros(4000, np.float32)]
    with pytest.raises(ValueError, match=r"numbered from 1, got \[0, 2\]"):
        green_ai.layer_embeddings(tiny_wav2vec2(), waves, [2, 0])


def test_unknown_classifier_is_refused() -> None:
    x = {1: np.random.default_rng(0).normal(size=(6, 4))}
    y = np.array([0, 1] * 3)
    with pytest.raises(ValueError, match="unknown Green AI classifier 'rf'"):
        green_ai.fit_select_score(x, y, x, y, x, ["rf"], seed=0)
