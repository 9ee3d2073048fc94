"""Metrics against brute-force oracles, sklearn, hand-worked cases and degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from spectcontra.evaluation import metrics as M

LN2 = np.log(2.0)


def _gaussian(seed: int, n_bona: int = 97, n_spoof: int = 211, d: float = 1.5):
    rng = np.random.default_rng(seed)
    return rng.normal(d, 1.0, n_bona), rng.normal(0.0, 1.0, n_spoof)


def _integer(seed: int):
    # few distinct values: many ties within and across classes
    rng = np.random.default_rng(seed)
    return rng.integers(0, 6, 80).astype(float), rng.integers(-2, 4, 150).astype(float)


def _labelled(bona, spoof):
    return np.r_[np.ones(len(bona)), np.zeros(len(spoof))], np.r_[bona, spoof]


# --------------------------------------------------------------------------- oracles


def _thresholds(bona, spoof):
    return np.r_[-np.inf, np.unique(np.r_[bona, spoof])]


def _eer_oracle(bona, spoof):
    # scan every threshold, lowest first; reject a score <= t
    best = None
    for t in _thresholds(bona, spoof):
        frr, far = np.mean(bona <= t), np.mean(spoof > t)
        if best is None or abs(frr - far) < best[0]:
            best = (abs(frr - far), (frr + far) / 2)
    return best[1]


def _min_dcf_oracle(bona, spoof):
    return min(
        (0.95 * np.mean(bona <= t) + 0.5 * np.mean(spoof > t)) / 0.5
        for t in _thresholds(bona, spoof)
    )


def _cllr_oracle(bona, spoof):
    return 0.5 * (np.mean(np.log2(1 + np.exp(-bona))) + np.mean(np.log2(1 + np.exp(spoof))))


def _min_cllr_oracle(bona, spoof):
    y, x = _labelled(bona, spoof)
    post = IsotonicRegression(out_of_bounds="clip").fit(x, y).predict(x)
    prior = y.mean()
    with np.errstate(divide="ignore"):
        llr = np.log(post) - np.log1p(-post) - np.log(prior / (1 - prior))
    # infinite LLRs only ever sit on the right side of a pure bin: they cost 0 bits
    cost_b = np.logaddexp(0, -llr[y == 1]) / LN2
    cost_s = np.logaddexp(0, llr[y == 0]) / LN2
    return 0.5 * (cost_b.mean() + cost_s.mean())


def _ece_oracle(bona, spoof, n_bins):
    p_b, p_s = 1 / (1 + np.exp(-bona)), 1 / (1 + np.exp(-spoof))
    total = 0.0
    for k in range(n_bins):
        lo, hi = k / n_bins, (k + 1) / n_bins
        in_b = (p_b >= lo) & ((p_b < hi) | (k == n_bins - 1))
        in_s = (p_s >= lo) & ((p_s < hi) | (k == n_bins - 1))
        w_b, w_s = in_b.sum() * 0.5 / len(bona), in_s.sum() * 0.5 / len(spoof)
        if w_b + w_s == 0:
            continue
        mass_b = p_b[in_b].sum() * 0.5 / len(bona)
        mass_s = p_s[in_s].sum() * 0.5 / len(spoof)
        conf = (mass_b + mass_s) / (w_b + w_s)
        acc = w_b / (w_b + w_s)
        total += (w_b + w_s) * abs(acc - conf)
    return total


# --------------------------------------------------------------------------- EER and ROC


@pytest.mark.parametrize("seed", range(5))
def test_eer_matches_threshold_scan_and_sklearn(seed):
    bona, spoof = _gaussian(seed)
    eer, thr = M.compute_eer(bona, spoof)
    assert eer == pytest.approx(_eer_oracle(bona, spoof), abs=1e-12)
    # sklearn's operating points: the EER must be the mean at one of its closest-to-equal points
    y, x = _labelled(bona, spoof)
    fpr, tpr, _ = sk_roc_curve(y, x, drop_intermediate=False)
    gap = np.abs((1 - tpr) - fpr)
    candidates = ((1 - tpr) + fpr)[np.isclose(gap, gap.min())] / 2
    assert np.isclose(candidates, eer).any()
    # the returned threshold reproduces the EER operating point with the "> t accepts" rule
    far, frr = M.far_frr_at_threshold(bona, spoof, thr)
    assert (far + frr) / 2 == pytest.approx(eer)


def test_eer_toy_by_hand():
    # ascending: .1s .3s .4b .5s .8b .9b; after .4: FRR 1/3, FAR 1/3 -> EER 1/3 at t = .4
    eer, thr = M.compute_eer([0.9, 0.8, 0.4], [0.5, 0.3, 0.1])
    assert eer == pytest.approx(1 / 3)
    assert thr == pytest.approx(0.4)


@pytest.mark.parametrize("make", [_gaussian, _integer])
@pytest.mark.parametrize("seed", range(3))
def test_roc_auc_and_curve_match_sklearn(make, seed):
    bona, spoof = make(seed)
    y, x = _labelled(bona, spoof)
    assert M.roc_auc(bona, spoof) == pytest.approx(roc_auc_score(y, x), abs=1e-12)
    for drop in (True, False):
        fpr, tpr, thr = M.roc_curve(bona, spoof, drop_intermediate=drop)
        sk_fpr, sk_tpr, sk_thr = sk_roc_curve(y, x, drop_intermediate=drop)
        np.testing.assert_allclose(fpr, sk_fpr)
        np.testing.assert_allclose(tpr, sk_tpr)
        np.testing.assert_allclose(thr, sk_thr)


def test_roc_auc_toy_by_hand():
    # .9 and .8 beat all three spoofs, .4 beats .3 and .1: 8 of 9 pairs; a tie counts one half
    assert M.roc_auc([0.9, 0.8, 0.4], [0.5, 0.3, 0.1]) == pytest.approx(8 / 9)
    assert M.roc_auc([1.0, 2.0], [1.0]) == pytest.approx((0.5 + 1) / 2)


# --------------------------------------------------------------------------- average precision


@pytest.mark.parametrize("make", [_gaussian, _integer])
@pytest.mark.parametrize("seed", range(3))
def test_average_precision_both_classes_match_sklearn(make, seed):
    bona, spoof = make(seed)
    y, x = _labelled(bona, spoof)
    assert M.average_precision(bona, spoof) == pytest.approx(average_precision_score(y, x))
    assert M.average_precision(bona, spoof, positive="spoof") == pytest.approx(
        average_precision_score(1 - y, -x)
    )


def test_average_precision_toy_by_hand():
    # descending: .9b .8b .5s .4b -> precision at each bona fide hit 1, 1, 3/4; AP = 11/12
    assert M.average_precision([0.9, 0.8, 0.4], [0.5, 0.3, 0.1]) == pytest.approx(11 / 12)
    # spoof first by -score: .1s .3s .4b .5s -> 1, 1, 3/4 as well
    assert M.average_precision([0.9, 0.8, 0.4], [0.5, 0.3, 0.1], "spoof") == pytest.approx(11 / 12)
    with pytest.raises(M.MetricError, match="positive"):
        M.average_precision([1.0], [0.0], positive="target")


# --------------------------------------------------------------------------- DCF


@pytest.mark.parametrize("make", [_gaussian, _integer])
@pytest.mark.parametrize("seed", range(3))
def test_min_dcf_matches_threshold_scan(make, seed):
    bona, spoof = make(seed)
    assert M.min_dcf(bona, spoof) == pytest.approx(_min_dcf_oracle(bona, spoof), abs=1e-12)


def test_dcf_toy_by_hand():
    # DCF = (0.95 Pmiss + 0.5 Pfa) / 0.5 = 1.9 Pmiss + Pfa. Thresholds give (Pmiss, Pfa):
    # (0,1) 1.0; (0,2/3) .667; (0,1/3) .333; (1/3,1/3) .967; (1/3,0) .633; ... -> min 1/3
    bona, spoof = [0.9, 0.8, 0.4], [0.5, 0.3, 0.1]
    assert M.min_dcf(bona, spoof) == pytest.approx(1 / 3)
    # every score lies above the Bayes threshold -ln 1.9 = -0.642: all accepted, Pfa = 1
    assert M.ASVSPOOF5.bayes_threshold == pytest.approx(-np.log(1.9))
    assert M.ASVSPOOF5.normaliser == pytest.approx(0.5)
    assert M.act_dcf(bona, spoof) == pytest.approx(1.0)
    # at t = 0.45: Pmiss 1/3 (0.4), Pfa 1/3 (0.5) -> 1.9/3 + 1/3
    assert M.dcf_at_threshold(bona, spoof, 0.45) == pytest.approx(2.9 / 3)
    # a score equal to the threshold is rejected, as in det_curve
    assert M.far_frr_at_threshold(bona, spoof, 0.4) == (pytest.approx(1 / 3), pytest.approx(1 / 3))


def test_act_dcf_is_dcf_at_bayes_threshold_and_not_below_min():
    bona, spoof = _gaussian(7)
    act = M.act_dcf(bona, spoof)
    assert act == M.dcf_at_threshold(bona, spoof, -np.log(1.9))
    assert act >= M.min_dcf(bona, spoof)


def test_dcf_params_validated():
    with pytest.raises(ValueError, match="p_spoof"):
        M.DcfParams(p_spoof=1.5)


def test_accuracy_at_threshold_by_hand():
    # t = 0.45 accepts .9 .8 .5: correct are .9 .8 (bona) and .3 .1 (spoof) -> 4 of 6
    assert M.accuracy_at_threshold([0.9, 0.8, 0.4], [0.5, 0.3, 0.1], 0.45) == pytest.approx(4 / 6)
    with pytest.raises(M.MetricError, match="threshold"):
        M.far_frr_at_threshold([1.0], [0.0], float("nan"))


# --------------------------------------------------------------------------- Cllr


@pytest.mark.parametrize("seed", range(3))
def test_cllr_matches_direct_formula(seed):
    bona, spoof = _gaussian(seed)
    assert M.cllr(bona, spoof) == pytest.approx(_cllr_oracle(bona, spoof))


def test_cllr_by_hand_and_stable_for_huge_scores():
    assert M.cllr([0.0], [0.0]) == pytest.approx(1.0)  # uninformative: 1 bit
    # LLR +-ln 3 on the right sides: log2(1 + 1/3) = log2(4/3) per trial
    assert M.cllr([np.log(3)], [-np.log(3)]) == pytest.approx(np.log2(4 / 3))
    # a wrong, confident LLR of 1000 nats costs 1000 / ln 2 bits, no overflow
    assert M.cllr([-1000.0], [-1000.0]) == pytest.approx(0.5 * 1000 / LN2)


@pytest.mark.parametrize("make", [_gaussian, _integer])
@pytest.mark.parametrize("seed", range(3))
def test_min_cllr_matches_isotonic_oracle_and_bounds_cllr(make, seed):
    bona, spoof = make(seed)
    got = M.min_cllr(bona, spoof)
    assert got == pytest.approx(_min_cllr_oracle(bona, spoof), abs=1e-9)
    # PAV is the best monotonic recalibration: no affine map with a > 0 does better
    for a, b in [(1.0, 0.0), (0.5, -1.0), (2.0, 0.7), (3.0, -2.0)]:
        assert got <= M.cllr(a * bona + b, a * spoof + b) + 1e-9


def test_min_cllr_by_hand_and_invariance():
    # ascending .0s 1b 2s 3b: PAV pools (1b, 2s) to 1/2 -> LLRs (-inf, 0, 0, +inf):
    # each class pays 1 bit on one of two trials -> minCllr 1/2
    assert M.min_cllr([1.0, 3.0], [2.0, 0.0]) == pytest.approx(0.5, abs=1e-9)
    assert M.min_cllr([5.0, 6.0], [1.0, 2.0]) == pytest.approx(0.0, abs=1e-9)
    bona, spoof = _gaussian(3)
    # depends only on the ranking
    assert M.min_cllr(np.exp(bona), np.exp(spoof)) == pytest.approx(M.min_cllr(bona, spoof))
    llr_b, llr_s = M.pav_llrs([5.0, 6.0], [1.0, 2.0])
    assert np.isfinite(llr_b).all() and np.isfinite(llr_s).all()


# --------------------------------------------------------------------------- reliability and ECE


@pytest.mark.parametrize("seed", range(3))
def test_ece_matches_bin_loop(seed):
    bona, spoof = _gaussian(seed)
    for n_bins in (2, 10, 15):
        assert M.expected_calibration_error(bona, spoof, n_bins) == pytest.approx(
            _ece_oracle(bona, spoof, n_bins)
        )


def test_reliability_by_hand():
    # p = 0.5 for both -> bin 5 of 10, confidence .5, balanced bona fide share .5
    curve = M.reliability_curve([0.0], [0.0], 10)
    assert curve.bin.tolist() == [5] and curve.count.tolist() == [2]
    assert M.expected_calibration_error([0.0], [0.0], 10) == pytest.approx(0.0)
    # p = 0.75 for both: confidence .75 but half are bona fide -> ECE .25
    assert M.expected_calibration_error([np.log(3)], [np.log(3)], 10) == pytest.approx(0.25)
    # class balance does not matter: 1 bona fide vs 3 spoof at the same score
    assert M.expected_calibration_error([0.0], [0.0, 0.0, 0.0], 10) == pytest.approx(0.0)


def test_calibrated_gaussian_llrs_have_small_ece_whatever_the_class_balance():
    # ideal LLRs: bona ~ N(m, 2m), spoof ~ N(-m, 2m); 1:9 imbalance as in ASVspoof
    rng = np.random.default_rng(0)
    m = 2.0
    bona, spoof = rng.normal(m, np.sqrt(2 * m), 2000), rng.normal(-m, np.sqrt(2 * m), 18000)
    curve = M.reliability_curve(bona, spoof, 10)
    assert curve.weight.sum() == pytest.approx(1.0)
    assert curve.count.sum() == 20000
    assert M.expected_calibration_error(bona, spoof, 10) < 0.02
    assert M.act_dcf(bona, spoof) == pytest.approx(M.min_dcf(bona, spoof), abs=0.03)


# --------------------------------------------------------------------------- edge cases


def test_perfect_separation():
    bona, spoof = [2.0, 3.0, 4.0], [-1.0, 0.0, 1.0]
    assert M.compute_eer(bona, spoof)[0] == 0.0
    assert M.roc_auc(bona, spoof) == 1.0
    assert M.average_precision(bona, spoof) == 1.0
    assert M.average_precision(bona, spoof, "spoof") == 1.0
    assert M.min_dcf(bona, spoof) == 0.0
    assert M.min_cllr(bona, spoof) == pytest.approx(0.0, abs=1e-9)


def test_all_tied_scores_give_chance_values():
    bona, spoof = np.zeros(4), np.zeros(6)
    assert M.compute_eer(bona, spoof)[0] == 1.0  # the official rule; see compute_eer
    assert M.roc_auc(bona, spoof) == 0.5
    assert M.average_precision(bona, spoof) == pytest.approx(0.4)
    assert M.average_precision(bona, spoof, "spoof") == pytest.approx(0.6)
    assert M.min_dcf(bona, spoof) == pytest.approx(1.0)
    assert M.min_cllr(bona, spoof) == pytest.approx(1.0)


ALL_METRICS = [
    lambda b, s: M.compute_eer(b, s),
    M.roc_auc, M.roc_curve, M.pr_curve, M.average_precision, M.min_dcf, M.act_dcf, M.cllr,
    M.min_cllr, M.pav_llrs,
    lambda b, s: M.expected_calibration_error(b, s, 10),
    lambda b, s: M.dcf_at_threshold(b, s, 0.0),
    lambda b, s: M.accuracy_at_threshold(b, s, 0.0),
]


@pytest.mark.parametrize("fn", ALL_METRICS)
@pytest.mark.parametrize(
    "bona, spoof, match",
    [
        ([], [0.1, 0.2], "both classes"),
        ([0.1, 0.2], [], "both classes"),
        ([0.1, np.nan], [0.2], "NaN"),
        ([0.1], [np.inf, 0.2], "NaN or infinite"),
    ],
)
def test_degenerate_inputs_raise(fn, bona, spoof, match):
    with pytest.raises(M.MetricError, match=match):
        fn(bona, spoof)


def test_per_attack_eer_uses_all_bona_fide():
    rng = np.random.default_rng(1)
    bona = rng.normal(2, 1, 50)
    spoof = np.r_[rng.normal(0, 1, 30), rng.normal(1.5, 1, 40)]
    attacks = np.array(["A01"] * 30 + ["A02"] * 40)
    got = M.per_attack_eer(bona, spoof, attacks)
    assert list(got) == ["A01", "A02"]
    assert got["A01"] == M.compute_eer(bona, spoof[:30])[0]
    assert got["A02"] == M.compute_eer(bona, spoof[30:])[0]
    assert got["A01"] < got["A02"]
    with pytest.raises(M.MetricError, match="attacks"):
        M.per_attack_eer(bona, spoof, attacks[:-1])


def test_probit():
    assert M.probit(0.5) == pytest.approx(0.0)
    assert M.probit(0.158655) == pytest.approx(-1.0, abs=1e-4)
    assert np.isfinite(M.probit([0.0, 1.0])).all()
