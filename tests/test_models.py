"""Encoder, cross-view attention, heads, detector and checkpoints: shapes, gradients, freezing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spectcontra.config import EncoderConfig, load_config
from spectcontra.models.checkpoint import load_checkpoint, save_checkpoint
from spectcontra.models.cross_attention import CrossViewAttention
from spectcontra.models.detector import STRATEGIES, SpoofDetector, score
from spectcontra.models.encoder import TIME_POOLED_BLOCKS, SpectralEncoder
from spectcontra.models.pretrainer import ContrastivePretrainer

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
TINY = EncoderConfig(channels=(4, 8), embed_dim=16, heads=2, dropout=0.1)
F_BINS, T_FRAMES = 16, 40
VIEW_SETS = [("mel",), ("linear",), ("mel", "linear")]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def views_batch(views, batch=4, frames=T_FRAMES, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {v: torch.randn(batch, F_BINS, frames, generator=g) for v in views}


def check_gradients(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name} received no gradient"
            assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        else:
            assert p.grad is None, f"frozen {name} received a gradient"


# --------------------------------------------------------------------------- encoder


@pytest.mark.parametrize("frames", [1, 7, 40, 101])
@pytest.mark.parametrize("bins", [16, 13])
def test_encoder_shapes_for_any_length(frames, bins):
    enc = SpectralEncoder(TINY, bins)
    tokens, pooled = enc(torch.randn(3, bins, frames), torch.tensor([0, 1, 0]))
    halvings = min(len(TINY.channels), TIME_POOLED_BLOCKS)
    assert tokens.shape == (3, -(-frames // 2**halvings), 16)  # ceil-mode pooling
    assert pooled.shape == (3, 16)
    assert torch.isfinite(tokens).all()
    assert torch.allclose(pooled, tokens.mean(dim=1))


def test_encoder_rejects_wrong_bins():
    with pytest.raises(ValueError, match="16"):
        SpectralEncoder(TINY, 16)(torch.randn(2, 12, 20), torch.tensor([0, 0]))


def test_view_embedding_tells_views_apart():
    enc = SpectralEncoder(TINY, F_BINS).eval()
    x = torch.randn(1, F_BINS, T_FRAMES)
    _, as_mel = enc(x, torch.tensor([0]))
    _, as_linear = enc(x, torch.tensor([1]))
    assert not torch.allclose(as_mel, as_linear)


def test_default_encoder_within_parameter_budget():
    cfg = load_config(ROOT / "params.yaml")
    enc = SpectralEncoder(cfg.pretrain.encoder, cfg.preprocess.n_mels)
    assert n_params(enc) <= 500_000, "hard cap"
    assert n_params(enc) <= 100_000, "target budget"
    det = SpoofDetector(cfg.pretrain.encoder, cfg.pretrain.views, cfg.preprocess.n_mels,
                        cfg.finetune.head, cfg.finetune.head_hidden)
    assert n_params(det) <= 100_000
    clip = {v: torch.randn(1, cfg.preprocess.n_mels, 401) for v in cfg.pretrain.views}  # 4 s
    assert det.eval()(clip).shape == (1,)


# --------------------------------------------------------------------------- cross-attention


def test_cross_attention_shapes_gradients_and_mixing():
    xattn = CrossViewAttention(16, 2, 0.0)
    a, b = torch.randn(3, 5, 16), torch.randn(3, 9, 16, requires_grad=True)
    ca = xattn(a, b)
    assert ca.shape == (3, 16)
    ca.sum().backward()
    check_gradients(xattn)
    assert b.grad.abs().sum() > 0  # a's output depends on b
    assert not torch.allclose(ca, xattn(a, torch.randn(3, 9, 16)))


def test_cross_attention_rejects_bad_heads():
    with pytest.raises(ValueError, match="heads"):
        CrossViewAttention(16, 3, 0.0)


@pytest.mark.parametrize("cross_attention", [False, True])
@pytest.mark.parametrize("supervised", [False, True])
def test_pretrainer_losses_and_gradients(cross_attention, supervised):
    model = ContrastivePretrainer(SpectralEncoder(TINY, F_BINS), 8, cross_attention, 0.2).train()
    x, x2 = views_batch(("mel", "linear"), seed=1), views_batch(("mel", "linear"), seed=2)
    labels = torch.tensor([1, 0, 1, 0]) if supervised else None
    second = (x2["mel"], x2["linear"]) if cross_attention else None
    l_sa, l_ca = model(x["mel"], x["linear"], 0, 1, labels, second)
    assert torch.isfinite(l_sa) and l_sa > 0
    assert (l_ca > 0) if cross_attention else (l_ca == 0)
    (l_sa + 0.5 * l_ca).backward()
    check_gradients(model)


def test_cross_attention_positives_share_no_tokens():
    """L_CA's positive pair is (a1 attends b1) vs (b2 attends a2): each side is a function of
    its own draw only, and the two directions have separate weights (no leak by construction)."""
    model = ContrastivePretrainer(SpectralEncoder(TINY, F_BINS), 8, True, 0.2).eval()
    assert model.cross_ab is not model.cross_ba
    assert not any(p is q for p in model.cross_ab.parameters() for q in model.cross_ba.parameters())
    d1, d2 = views_batch(("mel", "linear"), seed=1), views_batch(("mel", "linear"), seed=2)
    captured = {}
    model.cross_ab.register_forward_hook(lambda m, i, o: captured.__setitem__("ab", o.detach()))
    model.cross_ba.register_forward_hook(lambda m, i, o: captured.__setitem__("ba", o.detach()))

    def run(first, second):
        with torch.no_grad():
            model(first["mel"], first["linear"], 0, 1, None, (second["mel"], second["linear"]))
        return captured["ab"].clone(), captured["ba"].clone()

    ab, ba = run(d1, d2)
    ab_new2, ba_new2 = run(d1, views_batch(("mel", "linear"), seed=3))  # only draw 2 changes
    assert torch.allclose(ab, ab_new2) and not torch.allclose(ba, ba_new2)
    ab_new1, ba_new1 = run(views_batch(("mel", "linear"), seed=4), d2)  # only draw 1 changes
    assert not torch.allclose(ab, ab_new1) and torch.allclose(ba, ba_new1)
    with pytest.raises(ValueError, match="second draw"):
        model(d1["mel"], d1["linear"], 0, 1)


# --------------------------------------------------------------------------- detector


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "logreg"] + ["logreg"])
@pytest.mark.parametrize("head", ["linear", "mlp"])
@pytest.mark.parametrize("views", VIEW_SETS)
def test_detector_forward_and_gradients(views, head, strategy):
    det = SpoofDetector(TINY, views, F_BINS, head=head, head_hidden=8)
    det.set_strategy(strategy)
    det.train()
    x = views_batch(views)
    logits = det(x)
    assert logits.shape == (4,)
    assert torch.isfinite(logits).all()
    assert det.embed(x).shape == (4, 16 * len(views))
    logits.sum().backward()
    check_gradients(det)
    encoder_trainable = {n for n, p in det.encoder.named_parameters() if p.requires_grad}
    if strategy in ("frozen", "logreg"):
        assert not encoder_trainable and not det.encoder.training
    elif strategy == "partial":
        assert encoder_trainable and all(n.startswith(("blocks.1.", "to_tokens.", "view_embed",
                                                        "attention.", "norm."))
                                         for n in encoder_trainable)
        assert not det.encoder.blocks[0].training and det.encoder.attention.training
    else:
        assert encoder_trainable == {n for n, _ in det.encoder.named_parameters()}


def test_frozen_encoder_batchnorm_stats_do_not_move_in_train_mode():
    det = SpoofDetector(TINY, ("mel", "linear"), F_BINS)
    det.set_strategy("frozen")
    det.train()
    before = {k: v.clone() for k, v in det.encoder.state_dict().items()}
    det(views_batch(("mel", "linear")))
    after = det.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_unknown_strategy_and_views_raise():
    det = SpoofDetector(TINY, ("mel",), F_BINS)
    with pytest.raises(ValueError, match="strategy"):
        det.set_strategy("half")
    with pytest.raises(ValueError, match="views"):
        SpoofDetector(TINY, ("mel", "mel"), F_BINS)


def test_score_batched_matches_one_pass_and_restores_mode():
    det = SpoofDetector(TINY, ("mel", "linear"), F_BINS).train()
    x = views_batch(("mel", "linear"), batch=11)
    as_f16 = {v: t.numpy().astype(np.float16) for v, t in x.items()}
    whole = score(det, as_f16, batch_size=64)
    chunks = score(det, as_f16, batch_size=3)
    assert whole.shape == (11,) and whole.dtype == np.float64
    np.testing.assert_allclose(chunks, whole, rtol=1e-5, atol=1e-6)
    assert det.training
    with torch.no_grad():
        direct = det.eval()({v: torch.from_numpy(a).float() for v, a in as_f16.items()})
    np.testing.assert_allclose(whole, direct.numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- checkpoint


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("views", [("mel",), ("mel", "linear")])
def test_checkpoint_round_trip(tmp_path, strategy, views):
    det = SpoofDetector(TINY, views, F_BINS, head="mlp", head_hidden=8)
    det.set_strategy(strategy)
    det(views_batch(views))  # move BatchNorm stats away from their init (train mode)
    extra = {"features": {"n_fft": 512}, "mean": [0.5] * 4, "threshold": 0.25,
             "stats": torch.arange(3.0), "calibration": None}
    path = tmp_path / "det.pt"
    save_checkpoint(path, det, extra)
    loaded, loaded_extra = load_checkpoint(path)
    x = views_batch(views, batch=6, frames=55, seed=3)
    np.testing.assert_array_equal(score(loaded, x), score(det, x))
    assert loaded.views == det.views and loaded.strategy == strategy and not loaded.training
    assert loaded_extra["threshold"] == 0.25 and torch.equal(loaded_extra["stats"], extra["stats"])
    assert loaded_extra["features"] == {"n_fft": 512}


def test_checkpoint_refuses_numpy_in_extra(tmp_path):
    det = SpoofDetector(TINY, ("mel",), F_BINS)
    with pytest.raises(TypeError, match="extra.stats.mean"):
        save_checkpoint(tmp_path / "x.pt", det, {"stats": {"mean": np.zeros(3)}})
    assert not (tmp_path / "x.pt").exists()
