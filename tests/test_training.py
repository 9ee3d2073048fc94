"""Pretraining and fine-tuning loops: histories, freezing strategies, determinism, checkpoints."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from spectcontra.config import (
    AugmentConfig,
    EncoderConfig,
    FinetuneConfig,
    PretrainConfig,
)
from spectcontra.evaluation.metrics import compute_eer
from spectcontra.models.checkpoint import load_checkpoint, save_checkpoint
from spectcontra.models.detector import SpoofDetector, score
from spectcontra.training.finetune import LOGREG_C_GRID, finetune
from spectcontra.training.optim import cosine_lr
from spectcontra.training.pretrain import ViewSampler, crop_frames, pretrain, view_sources

torch.set_num_threads(1)

F_BINS, T_FRAMES = 16, 40
TINY = EncoderConfig(channels=(4, 8), embed_dim=16, heads=2, dropout=0.1)
AUG = AugmentConfig(time_mask=6, freq_mask=3, gain_db=3.0, noise_std=0.05, signal_effects=True)
PRE = PretrainConfig(seeds=(0,), epochs=2, batch_size=16, lr=2e-3, weight_decay=1e-4, temperature=0.2,
                     contrastive_weight=1.0, supervised_contrastive=False, cross_attention=True,
                     alpha=0.5, views=("mel", "linear"), projection_dim=8, view_crop_fraction=0.75,
                     encoder=TINY, augment=AUG)
NO_AUG = AugmentConfig(time_mask=0, freq_mask=0, gain_db=0.0, noise_std=0.0, signal_effects=False)
FT = FinetuneConfig(strategy="full", head="mlp", head_hidden=8, epochs=2, batch_size=8, lr=3e-3,
                    weight_decay=1e-4, calibration="none", patience=0, augment=NO_AUG)


def make_split(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Float16 views where bona fide (1) carries extra energy in the top bins."""
    rng = np.random.default_rng(seed)
    targets = (np.arange(n) % 3 == 0).astype(np.int64)
    views = {}
    for view in ("mel", "linear"):
        x = rng.normal(size=(n, F_BINS, T_FRAMES)).astype(np.float32)
        x[targets == 1, -5:, :] += 1.5
        views[view] = x.astype(np.float16)
    return views, targets


TRAIN, Y_TRAIN = make_split(32, 0)
TRAIN_AUG, _ = make_split(32, 1)
DEV, Y_DEV = make_split(24, 2)


@pytest.fixture(scope="module")
def encoder():
    enc, _ = pretrain(TRAIN, TRAIN_AUG, torch.from_numpy(Y_TRAIN), PRE, seed=0)
    return enc


def states_equal(a: dict, b: dict, keys) -> bool:
    return all(torch.equal(a[k], b[k]) for k in keys)


# --------------------------------------------------------------------------- schedule


def test_cosine_lr():
    assert cosine_lr(0, 100, 1.0) == 1.0
    assert cosine_lr(50, 100, 1.0) == pytest.approx(0.5)
    assert cosine_lr(100, 100, 1.0) == pytest.approx(0.0)
    assert cosine_lr(0, 100, 1.0, warmup_steps=10) == pytest.approx(0.1)
    assert cosine_lr(10, 100, 1.0, warmup_steps=10) == 1.0
    assert cosine_lr(55, 100, 2.0, warmup_steps=10) == pytest.approx(1.0 + math.cos(math.pi / 2))
    with pytest.raises(ValueError):
        cosine_lr(0, 10, 1.0, warmup_steps=10)


# --------------------------------------------------------------------------- pretraining


@pytest.mark.parametrize("views, cross_attention, supervised", [
    (("mel", "linear"), True, False),
    (("mel", "linear"), False, True),
    (("mel",), True, True),
    (("linear",), False, False),
])
def test_pretrain_variants_train_the_encoder(views, cross_attention, supervised):
    cfg = dataclasses.replace(PRE, views=views, cross_attention=cross_attention,
                              supervised_contrastive=supervised)
    data = {v: TRAIN[v] for v in views}
    enc, history = pretrain(data, TRAIN_AUG, torch.from_numpy(Y_TRAIN), cfg, seed=0)
    init, no_history = pretrain(data, TRAIN_AUG, torch.from_numpy(Y_TRAIN),
                                dataclasses.replace(cfg, contrastive_weight=0.0), seed=0)
    assert no_history == []
    assert [h["epoch"] for h in history] == [1, 2]
    for h in history:
        assert set(h) == {"epoch", "loss", "l_sa", "l_ca", "lr"}
        assert all(math.isfinite(h[k]) for k in h)
        assert h["loss"] == pytest.approx(h["l_sa"] + cfg.alpha * h["l_ca"], rel=1e-5)
        assert (h["l_ca"] > 0) == cross_attention
    assert not enc.training
    changed = [k for k, v in enc.state_dict().items() if not torch.equal(v, init.state_dict()[k])]
    assert any(k.startswith("blocks.0.") for k in changed) and any("attention" in k for k in changed)


def test_bin_std_and_signal_copy_shape_are_used():
    cfg = dataclasses.replace(PRE, epochs=1)
    std = {v: np.linspace(0.5, 2.0, F_BINS) for v in ("mel", "linear")}
    a, _ = pretrain(TRAIN, TRAIN_AUG, Y_TRAIN, cfg, seed=0)
    b, _ = pretrain(TRAIN, TRAIN_AUG, Y_TRAIN, cfg, seed=0, bin_std=std)
    assert not torch.equal(a.blocks[0][0].weight, b.blocks[0][0].weight)
    short = {v: x[:, :, :20] for v, x in TRAIN_AUG.items()}
    with pytest.raises(ValueError, match="signal-augmented"):
        pretrain(TRAIN, short, Y_TRAIN, cfg, seed=0)


def test_zero_contrastive_weight_returns_seeded_init():
    cfg = dataclasses.replace(PRE, contrastive_weight=0.0)
    a, hist = pretrain(TRAIN, None, torch.from_numpy(Y_TRAIN), cfg, seed=5)
    b, _ = pretrain(TRAIN, None, torch.from_numpy(Y_TRAIN), cfg, seed=5)
    assert hist == []
    assert states_equal(a.state_dict(), b.state_dict(), a.state_dict())


def test_view_sources():
    assert view_sources(TRAIN, TRAIN_AUG, PRE) == ("mel", "linear", TRAIN_AUG)
    one = dataclasses.replace(PRE, views=("mel",))
    assert view_sources(TRAIN, TRAIN_AUG, one) == ("mel", "mel", TRAIN_AUG)
    no_fx = dataclasses.replace(one, augment=dataclasses.replace(AUG, signal_effects=False))
    assert view_sources(TRAIN, TRAIN_AUG, no_fx)[2] is None
    with pytest.warns(UserWarning, match="signal-augmented"):
        assert view_sources(TRAIN, None, one)[2] is None


def _sampler(cfg: PretrainConfig, seed: int, augmented=TRAIN_AUG["mel"]) -> ViewSampler:
    frames = crop_frames(T_FRAMES, cfg.view_crop_fraction)
    return ViewSampler(TRAIN["mel"], augmented, frames, cfg, torch_generator_for(seed), None)


def torch_generator_for(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_two_views_of_a_step_are_independent_random_spans():
    """Per-view crops differ: with no other augmentation, view a and view b of the same
    utterances are different spans of the stored crop (not frame-aligned)."""
    cfg = dataclasses.replace(PRE, augment=NO_AUG, view_crop_fraction=0.5)
    sampler = _sampler(cfg, 0, augmented=None)
    idx = torch.arange(16)
    a, b = sampler(idx), sampler(idx)
    assert a.shape == b.shape == (16, F_BINS, T_FRAMES // 2)
    full = torch.from_numpy(TRAIN["mel"][:16].astype(np.float32))
    # Each view is some span of its utterance...
    for view in (a, b):
        for i in range(16):
            spans = full[i].unfold(1, T_FRAMES // 2, 1).permute(1, 0, 2)  # (n_spans, F, frames)
            assert (spans == view[i]).all(dim=(1, 2)).any()
    # ...and the two views' spans differ for most utterances.
    assert (a != b).flatten(1).any(dim=1).float().mean() > 0.5


def test_augmentation_is_drawn_afresh_at_every_step():
    """Two draws of the same batch differ (signal copy choice, span and masks), so an epoch
    never sees the previous epoch's distortion; the same seed reproduces the draws."""
    idx = torch.arange(8)
    s1, s2 = _sampler(PRE, 3), _sampler(PRE, 3)
    first, second = s1(idx), s1(idx)
    assert not torch.equal(first, second)
    assert torch.equal(first, s2(idx)) and torch.equal(second, s2(idx))


def test_signal_augmented_copy_reaches_both_views_at_random():
    cfg = dataclasses.replace(PRE, augment=dataclasses.replace(NO_AUG, signal_effects=True),
                              view_crop_fraction=1.0)
    sampler = _sampler(cfg, 0)
    idx = torch.arange(32)
    draws = torch.stack([sampler(idx) for _ in range(6)])  # (6, 32, F, T)
    aug = torch.from_numpy(TRAIN_AUG["mel"].astype(np.float32))
    from_aug = (draws == aug).flatten(2).all(dim=2)  # (6, 32)
    assert 0.2 < from_aug.float().mean() < 0.8  # both sources, about half each
    assert (from_aug.any(dim=0) & ~from_aug.all(dim=0)).any()  # an utterance switches source


# --------------------------------------------------------------------------- fine-tuning


def test_frozen_strategy_leaves_encoder_bit_identical(encoder):
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    det, history = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV,
                            dataclasses.replace(FT, strategy="frozen"), seed=0)
    after = det.encoder.state_dict()
    assert any("num_batches_tracked" in k for k in after)
    assert states_equal(before, after, before), "frozen encoder (BatchNorm buffers included) moved"
    assert states_equal(before, encoder.state_dict(), before), "caller's encoder was modified"
    assert len(history) == FT.epochs


def test_partial_strategy_trains_exactly_what_it_says(encoder):
    """'partial' = last conv block, token projection, view embedding, attention and its norm;
    asserted by parameter name, both as requires_grad and as what training changed."""
    det = SpoofDetector(TINY, ("mel", "linear"), F_BINS, head="mlp", head_hidden=8)
    det.set_strategy("partial")
    trainable = {n for n, p in det.encoder.named_parameters() if p.requires_grad}
    allowed = ("blocks.1.", "to_tokens.", "view_embed", "attention.", "norm.")
    expected = {n for n, _ in det.encoder.named_parameters() if n.startswith(allowed)}
    assert trainable == expected
    assert {"to_tokens.weight", "to_tokens.bias", "view_embed"} <= trainable
    assert not any(n.startswith("blocks.0.") for n in trainable)

    before = encoder.state_dict()
    det, _ = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV,
                      dataclasses.replace(FT, strategy="partial"), seed=0)
    after = det.encoder.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(allowed) for k in changed), sorted(changed)
    assert {"to_tokens.weight", "view_embed"} <= changed
    assert any(k.startswith("blocks.1.") and "running_mean" in k for k in changed)


def test_finetune_augments_and_stops_early_on_dev(encoder):
    aug = dataclasses.replace(FT, epochs=12, patience=2, augment=AUG)
    det, hist = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV, aug, seed=0,
                         train_aug_views=TRAIN_AUG)
    best = next(h["epoch"] for h in hist if h["selected"])
    assert len(hist) <= 12 and (len(hist) == 12 or len(hist) - best == 2)
    assert hist[best - 1]["dev_eer"] == min(h["dev_eer"] for h in hist)
    plain, _ = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV, dataclasses.replace(aug, augment=NO_AUG),
                        seed=0)
    # Augmentation changes what is learned (same seed, same data, same steps).
    assert not torch.equal(det.head.net[0].weight, plain.head.net[0].weight)


def test_full_strategy_changes_the_whole_encoder(encoder):
    before = encoder.state_dict()
    det, _ = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV, FT, seed=0)
    after = det.encoder.state_dict()
    assert not torch.equal(before["blocks.0.0.weight"], after["blocks.0.0.weight"])
    assert not torch.equal(before["blocks.0.2.running_mean"], after["blocks.0.2.running_mean"])


@pytest.mark.parametrize("strategy", ["frozen", "partial", "full"])
@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_selected_epoch_is_lowest_dev_eer(encoder, strategy, head):
    det, history = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV,
                            dataclasses.replace(FT, strategy=strategy, head=head), seed=1)
    assert [set(h) for h in history] == [{"epoch", "train_loss", "dev_loss", "dev_eer", "lr",
                                          "selected"}] * FT.epochs
    selected = [h for h in history if h["selected"]]
    assert len(selected) == 1 and selected[0]["dev_eer"] == min(h["dev_eer"] for h in history)
    logits = score(det, DEV)
    eer = compute_eer(logits[Y_DEV == 1], logits[Y_DEV == 0])[0]
    assert eer == pytest.approx(selected[0]["dev_eer"])


def test_logreg_strategy_is_a_folded_linear_probe(encoder, tmp_path):
    before = encoder.state_dict()
    det, history = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV,
                            dataclasses.replace(FT, strategy="logreg"), seed=0)
    assert [h["C"] for h in history] == list(LOGREG_C_GRID)
    assert sum(h["selected"] for h in history) == 1
    assert states_equal(before, det.encoder.state_dict(), before)
    logits = score(det, DEV)
    best = next(h for h in history if h["selected"])
    assert compute_eer(logits[Y_DEV == 1], logits[Y_DEV == 0])[0] == pytest.approx(best["dev_eer"])
    # The toy task is separable from the top bins: the probe should beat chance on train.
    train_logits = score(det, TRAIN)
    assert compute_eer(train_logits[Y_TRAIN == 1], train_logits[Y_TRAIN == 0])[0] < 0.3
    path = tmp_path / "logreg.pt"
    save_checkpoint(path, det, {"threshold": 0.0})
    loaded, _ = load_checkpoint(path)
    np.testing.assert_array_equal(score(loaded, DEV), logits)
    assert set(torch.load(path, weights_only=True)["state_dict"]) == set(det.state_dict())


def test_finetune_rejects_one_class():
    enc, _ = pretrain(TRAIN, None, torch.from_numpy(Y_TRAIN),
                      dataclasses.replace(PRE, contrastive_weight=0.0), seed=0)
    with pytest.raises(ValueError, match="both classes"):
        finetune(enc, TRAIN, np.ones(32, dtype=np.int64), DEV, Y_DEV, FT, seed=0)


# --------------------------------------------------------------------------- determinism


def run(seed: int, strategy: str = "partial") -> np.ndarray:
    enc, _ = pretrain(TRAIN, TRAIN_AUG, torch.from_numpy(Y_TRAIN), PRE, seed=seed)
    det, _ = finetune(enc, TRAIN, Y_TRAIN, DEV, Y_DEV, dataclasses.replace(FT, strategy=strategy),
                      seed=seed)
    return score(det, DEV)


def test_same_seed_same_scores_different_seed_differs():
    first = run(0)
    np.testing.assert_array_equal(run(0), first)
    assert not np.array_equal(run(1), first)


@pytest.mark.parametrize("strategy", ["frozen", "partial", "full"])
def test_checkpoint_round_trip_after_finetune(encoder, tmp_path, strategy):
    det, _ = finetune(encoder, TRAIN, Y_TRAIN, DEV, Y_DEV,
                      dataclasses.replace(FT, strategy=strategy), seed=0)
    path = tmp_path / "det.pt"
    save_checkpoint(path, det, {"norm": {"mel": [0.0] * F_BINS}})
    loaded, extra = load_checkpoint(path)
    np.testing.assert_array_equal(score(loaded, DEV), score(det, DEV))
    assert extra == {"norm": {"mel": [0.0] * F_BINS}}
