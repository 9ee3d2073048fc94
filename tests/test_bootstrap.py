"""Stratified bootstrap: reproducibility, stratification, and coverage of known true values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from spectcontra.evaluation.bootstrap import bootstrap_ci, bootstrap_cis, paired_bootstrap_cis
from spectcontra.evaluation.metrics import MetricError, compute_eer, roc_auc


def _eer(b, s):
    return compute_eer(b, s)[0]


def _scores(seed, n_bona=150, n_spoof=300, d=2.0):
    rng = np.random.default_rng(seed)
    return rng.normal(d, 1.0, n_bona), rng.normal(0.0, 1.0, n_spoof)


def test_same_seed_same_interval_and_point_is_full_data_metric():
    bona, spoof = _scores(0)
    first = bootstrap_ci(_eer, bona, spoof, 100, 0.95, seed=3)
    assert first == bootstrap_ci(_eer, bona, spoof, 100, 0.95, seed=3)
    assert first != bootstrap_ci(_eer, bona, spoof, 100, 0.95, seed=4)
    point, low, high = first
    assert point == _eer(bona, spoof)
    assert low <= point <= high


def test_metrics_share_resamples_and_wider_level_gives_wider_interval():
    bona, spoof = _scores(1)
    joint = bootstrap_cis({"eer": _eer, "auc": roc_auc}, bona, spoof, 80, 0.9, seed=5)
    assert joint["eer"] == bootstrap_ci(_eer, bona, spoof, 80, 0.9, seed=5)
    assert joint["auc"] == bootstrap_ci(roc_auc, bona, spoof, 80, 0.9, seed=5)
    _, lo99, hi99 = bootstrap_ci(roc_auc, bona, spoof, 80, 0.99, seed=5)
    _, lo90, hi90 = joint["auc"]
    assert lo99 <= lo90 and hi90 <= hi99


def test_resamples_are_stratified_by_class():
    bona, spoof = np.arange(7.0), -np.arange(1.0, 20.0)
    sizes = set()

    def record(b, s):
        sizes.add((b.size, s.size))
        assert set(b) <= set(bona) and set(s) <= set(spoof)  # no mixing of classes
        return float(b.mean())

    bootstrap_ci(record, bona, spoof, 50, 0.95, seed=0)
    assert sizes == {(7, 19)}


def test_interval_of_a_mean_matches_normal_theory():
    rng = np.random.default_rng(2)
    bona = rng.normal(0.0, 1.0, 400)
    _, low, high = bootstrap_ci(lambda b, s: float(b.mean()), bona, [0.0], 2000, 0.95, seed=1)
    expected_half_width = 1.96 * bona.std() / np.sqrt(bona.size)
    assert (high - low) / 2 == pytest.approx(expected_half_width, rel=0.1)


def test_intervals_cover_the_true_value_at_about_the_stated_rate():
    # N(d, 1) vs N(0, 1): EER = Phi(-d/2), ROC-AUC = Phi(d / sqrt 2)
    d = 2.0
    truth = {"eer": norm.cdf(-d / 2), "auc": norm.cdf(d / np.sqrt(2))}
    hits = {"eer": 0, "auc": 0}
    n_draws = 100
    for draw in range(n_draws):
        bona, spoof = _scores(1000 + draw, n_bona=150, n_spoof=300, d=d)
        cis = bootstrap_cis({"eer": _eer, "auc": roc_auc}, bona, spoof, 200, 0.95, seed=draw)
        for key, (_, low, high) in cis.items():
            hits[key] += low <= truth[key] <= high
    for key, hit in hits.items():
        assert 0.85 <= hit / n_draws <= 0.99, f"{key} coverage {hit / n_draws}"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_resamples": 0}, "n_resamples"),
        ({"ci_level": 1.0}, "ci_level"),
        ({"ci_level": 0.0}, "ci_level"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    args = {"n_resamples": 10, "ci_level": 0.95, "seed": 0} | kwargs
    with pytest.raises(MetricError, match=match):
        bootstrap_ci(_eer, [1.0, 2.0], [0.0], **args)


def test_degenerate_scores_and_empty_metric_set_raise():
    with pytest.raises(MetricError, match="both classes"):
        bootstrap_ci(_eer, [], [0.0], 10, 0.95, 0)
    with pytest.raises(MetricError, match="NaN"):
        bootstrap_ci(_eer, [np.nan], [0.0], 10, 0.95, 0)
    with pytest.raises(MetricError, match="empty"):
        bootstrap_cis({}, [1.0], [0.0], 10, 0.95, 0)


# ---------------------------------------------------------------- speaker clusters


def _speaker_scores(seed, n_speakers=4, per_speaker=100, d=2.0, speaker_sd=1.5, shared=False):
    """Bona fide N(d, 1) and spoof N(0, 1), each speaker with ``per_speaker`` utterances of each
    class and an N(0, speaker_sd) offset per speaker and class (one per speaker if shared)."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0.0, speaker_sd, (2, n_speakers))
    if shared:
        offsets[1] = offsets[0]
    groups = np.repeat(np.arange(n_speakers), per_speaker)
    bona = rng.normal(d, 1.0, groups.size) + offsets[0, groups]
    spoof = rng.normal(0.0, 1.0, groups.size) + offsets[1, groups]
    return bona, spoof, groups


def test_a_speaker_resample_draws_whole_speakers_in_both_classes_then_their_utterances():
    # scores encode their speaker (the integer part): speakers 0, 1, 2 have 2, 3, 5 bona fide
    # and 1, 2, 2 spoof utterances
    bona_groups, spoof_groups = np.repeat([0, 1, 2], [2, 3, 5]), np.repeat([0, 1, 2], [1, 2, 2])
    bona = bona_groups + np.r_[0:2, 0:3, 0:5] / 10
    spoof = -(spoof_groups + np.r_[0:1, 0:2, 0:2] / 10) - 0.5
    drawn = []

    def record(b, s):
        assert (b >= 0).all() and (s < 0).all()  # classes never mix
        times_b = np.bincount(np.floor(b).astype(int), minlength=3) / [2, 3, 5]
        times_s = np.bincount(np.floor(-s - 0.5).astype(int), minlength=3) / [1, 2, 2]
        # a drawn speaker brings all its utterances of BOTH classes, once per time drawn
        assert np.array_equal(times_b, times_s) and times_b.sum() == 3
        drawn.append(times_b)
        return 0.0

    bootstrap_cis({"r": record}, bona, spoof, 200, 0.95, seed=0, bonafide_groups=bona_groups,
                  spoof_groups=spoof_groups)
    # with replacement: some resamples repeat a speaker and leave another out
    assert any((t == 0).any() for t in drawn[1:])


def test_speakers_with_one_class_are_resampled_within_their_class():
    # one speaker per utterance (a folder corpus without speakers): every resample keeps the
    # class counts, as the utterance bootstrap does
    bona, spoof = np.arange(7.0), -np.arange(1.0, 20.0)
    sizes = set()

    def record(b, s):
        sizes.add((b.size, s.size))
        assert set(b) <= set(bona) and set(s) <= set(spoof)
        return float(b.mean())

    bootstrap_ci(record, bona, spoof, 50, 0.95, seed=0)
    bootstrap_cis({"r": record}, bona, spoof, 50, 0.95, seed=0,
                  bonafide_groups=[f"b{i}" for i in range(7)],
                  spoof_groups=[f"s{i}" for i in range(19)])
    assert sizes == {(7, 19)}


def test_clustered_intervals_are_wider_than_utterance_intervals_with_few_strong_speakers():
    bona, spoof, groups = _speaker_scores(0)
    fns = {"eer": _eer, "auc": roc_auc}
    by_utt = bootstrap_cis(fns, bona, spoof, 300, 0.95, seed=1)
    by_spk = bootstrap_cis(fns, bona, spoof, 300, 0.95, seed=1, bonafide_groups=groups,
                           spoof_groups=groups)
    for key in fns:
        assert by_spk[key][0] == by_utt[key][0]  # same point value
        width_spk, width_utt = by_spk[key][2] - by_spk[key][1], by_utt[key][2] - by_utt[key][1]
        assert width_spk > 2.0 * width_utt, (key, width_spk, width_utt)


def test_clustered_intervals_cover_where_utterance_intervals_do_not():
    # New speakers each time: the truth is the population EER over speakers,
    # Phi(-d / (2 sqrt(1 + sd^2))), which 8 speakers pin down only loosely. (With so few
    # clusters the percentile interval still covers a little under its nominal 95%.)
    d, sd, n_draws = 2.0, 1.5, 40
    truth = norm.cdf(-d / (2.0 * np.sqrt(1.0 + sd**2)))
    hits = {"speaker": 0, "utterance": 0}
    for draw in range(n_draws):
        bona, spoof, groups = _speaker_scores(2000 + draw, n_speakers=8, per_speaker=40, d=d,
                                              speaker_sd=sd)
        for unit, g in (("speaker", groups), ("utterance", None)):
            _, low, high = bootstrap_cis({"eer": _eer}, bona, spoof, 150, 0.95, seed=draw,
                                         bonafide_groups=g, spoof_groups=g)["eer"]
            hits[unit] += low <= truth <= high
    assert hits["utterance"] / n_draws <= 0.6, hits
    assert hits["speaker"] / n_draws >= 0.8, hits


def test_clustered_intervals_are_reproducible_from_the_seed():
    bona, spoof, groups = _speaker_scores(3)
    kw = {"bonafide_groups": groups, "spoof_groups": groups}
    first = bootstrap_cis({"eer": _eer}, bona, spoof, 100, 0.95, seed=7, **kw)
    assert first == bootstrap_cis({"eer": _eer}, bona, spoof, 100, 0.95, seed=7, **kw)
    assert first != bootstrap_cis({"eer": _eer}, bona, spoof, 100, 0.95, seed=8, **kw)
    # group labels are names: renaming the speakers changes nothing
    names = {"bonafide_groups": [f"spk{g}" for g in groups], "spoof_groups": [f"spk{g}" for g in groups]}
    assert first == bootstrap_cis({"eer": _eer}, bona, spoof, 100, 0.95, seed=7, **names)


@pytest.mark.parametrize(
    "groups, match",
    [
        # one speaker with both classes: nothing to vary
        ({"bonafide_groups": ["a"] * 3, "spoof_groups": ["a"] * 2}, "got 0 bona fide and 0 spoof"),
        # a with both, b bona fide only, c spoof only: three strata of one speaker each
        ({"bonafide_groups": ["a", "b", "b"], "spoof_groups": ["a", "c"]},
         "got 0 bona fide and 0 spoof"),
        # two bona fide speakers, one spoof speaker
        ({"bonafide_groups": ["a", "b", "b"], "spoof_groups": ["c", "c"]},
         "got 2 bona fide and 0 spoof"),
        ({"bonafide_groups": [0, 1, 1]}, "both classes or for neither"),
        ({"bonafide_groups": [0, 1], "spoof_groups": [0, 1]}, "2 group labels for 3 scores"),
    ],
)
def test_one_cluster_per_class_and_bad_groups_raise(groups, match):
    with pytest.raises(MetricError, match=match):
        bootstrap_cis({"eer": _eer}, [1.0, 2.0, 3.0], [0.0, 1.0], 10, 0.95, 0, **groups)


# ---------------------------------------------------------------- paired differences


def test_paired_difference_of_identical_systems_is_zero_with_a_zero_width_interval():
    bona, spoof, groups = _speaker_scores(4)
    for g in (None, groups):
        diff = paired_bootstrap_cis({"eer": _eer, "auc": roc_auc}, (bona, spoof), (bona, spoof),
                                    100, 0.95, seed=0, bonafide_groups=g, spoof_groups=g)
        assert diff == {"eer": (0.0, 0.0, 0.0), "auc": (0.0, 0.0, 0.0)}


def test_paired_difference_by_hand():
    # Ours separates the classes (EER 0). The other system moves spoof up by 2.5: sorted,
    # 1.5s 2.5s 3b 3.5s 4b 4.5s 5b 6b; just above 3.5s one bona fide of four is rejected
    # (the 3) and one spoof of four accepted (the 4.5), so its EER is 0.25 and
    # ours - other = -0.25.
    bona, spoof = np.array([3.0, 4.0, 5.0, 6.0]), np.array([0.0, 1.0, 2.0, -1.0])
    other_spoof = spoof + 2.5
    assert _eer(bona, spoof) == 0.0 and _eer(bona, other_spoof) == 0.25
    point, low, high = paired_bootstrap_cis({"eer": _eer}, (bona, spoof), (bona, other_spoof),
                                            200, 0.95, seed=0)["eer"]
    assert point == -0.25
    assert low <= point <= high <= 0.0  # ours is never worse on any resample


def test_pairing_cancels_what_both_systems_share():
    # the other system is ours minus a constant on bona fide: the mean-of-bona-fide difference
    # is that constant on EVERY resample, so its paired interval has zero width, while each
    # system's own interval does not
    bona, spoof = _scores(5)

    def mean_bona(b, s):
        return float(b.mean())

    (point, low, high) = paired_bootstrap_cis({"m": mean_bona}, (bona, spoof), (bona - 0.5, spoof),
                                              200, 0.95, seed=0)["m"]
    assert point == pytest.approx(0.5) and high - low == pytest.approx(0.0, abs=1e-12)
    _, own_low, own_high = bootstrap_ci(mean_bona, bona, spoof, 200, 0.95, seed=0)
    assert own_high - own_low > 0.2


def test_paired_systems_must_have_the_same_utterance_counts():
    with pytest.raises(MetricError, match="same utterances"):
        paired_bootstrap_cis({"eer": _eer}, ([1.0, 2.0], [0.0]), ([1.0], [0.0]), 10, 0.95, 0)
