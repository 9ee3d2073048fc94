"""Class-stratified bootstrap confidence intervals, over utterances or speaker clusters, and
paired intervals of the difference between two systems scored on the same utterances.

The resampling scheme is a two-stage cluster bootstrap (Davison & Hinkley 1997, sec. 3.8)
that mimics how eval data are sampled: speakers are drawn, and each brings its utterances of
one or both classes. Speakers are first put in strata by the classes they have (both, bona
fide only, spoof only). One resample then

1. draws, within each stratum of ``K`` speakers, ``K`` speakers with replacement;
2. for every drawn speaker (each time it is drawn), draws its ``n_b`` bona fide utterances
   from its bona fide utterances and its ``n_s`` spoof utterances from its spoof
   utterances, with replacement.

A speaker drawn twice thus counts twice in BOTH classes, which keeps what a speaker does to
both its bona fide and its spoof scores (a voice or channel offset) together, and the strata
keep both classes in every resample whatever mix of speakers the data has. A stratum of one
speaker is always drawn, so it adds no between-speaker variation; each class needs >= 2
speakers in strata of >= 2. Class counts vary from resample to resample as speakers of
different sizes are drawn. Without groups, each class is a single cluster in its own stratum,
which is exactly the utterance bootstrap: ``n`` utterances with replacement, class by class,
class counts fixed. Draws depend only on the seed and on which utterances belong to which
speaker, so every metric, and every system scored on the same utterances (see
:func:`paired_bootstrap_cis`), sees the same resamples.

With few speakers, percentile intervals still cover somewhat less than their level (in
simulation with 8 speakers per class and strong speaker effects, about 85-90% for a nominal
95%, against about 30-60% for the utterance bootstrap): read them as lower bounds on the
uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from spectcontra.evaluation.metrics import MetricError, check_scores

MetricFn = Callable[[np.ndarray, np.ndarray], float]  # (bonafide, spoof) -> value
# (bona fide indices, spoof indices) -> values (m,); NaN where a value is undefined
Statistic = Callable[[np.ndarray, np.ndarray], ArrayLike]
Interval = tuple[float, float, float]  # (point, low, high)


@dataclass(frozen=True)
class Clusters:
    """One class's utterances grouped by cluster id (0..k-1); a cluster may hold none."""

    members: np.ndarray  # (n,) indices into the class's scores, cluster after cluster
    starts: np.ndarray  # (k,) where each cluster begins in ``members``
    sizes: np.ndarray  # (k,) utterances per cluster

    @classmethod
    def of(cls, codes: np.ndarray, n_clusters: int) -> Clusters:
        """Clusters from each utterance's cluster id."""
        sizes = np.bincount(codes, minlength=n_clusters)
        return cls(np.argsort(codes, kind="stable"), np.cumsum(sizes) - sizes, sizes)

    def take(self, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices of the ``chosen`` clusters' utterances, redrawn with replacement in each."""
        sizes = self.sizes[chosen]
        within = rng.integers(0, np.repeat(sizes, sizes))  # one bound per drawn utterance
        return self.members[np.repeat(self.starts[chosen], sizes) + within]


@dataclass(frozen=True)
class Resampler:
    """Draws class-stratified two-stage resamples (see the module docstring)."""

    bonafide: Clusters
    spoof: Clusters
    strata: tuple[np.ndarray, ...]  # cluster ids of each stratum

    @classmethod
    def build(cls, n_bonafide: int, n_spoof: int, bonafide_groups: ArrayLike | None = None,
              spoof_groups: ArrayLike | None = None) -> Resampler:
        """Speakers from ``*_groups`` (one label per score, shared across classes), or, with
        neither, the utterance bootstrap."""
        if (bonafide_groups is None) != (spoof_groups is None):
            raise MetricError("give groups for both classes or for neither")
        if bonafide_groups is None:
            return cls(Clusters.of(np.zeros(n_bonafide, dtype=np.int64), 2),
                       Clusters.of(np.ones(n_spoof, dtype=np.int64), 2),
                       (np.array([0]), np.array([1])))
        labels = [np.asarray(g).astype(str).ravel() for g in (bonafide_groups, spoof_groups)]
        for lab, n in zip(labels, (n_bonafide, n_spoof), strict=True):
            if lab.size != n:
                raise MetricError(f"got {lab.size} group labels for {n} scores")
        names, codes = np.unique(np.concatenate(labels), return_inverse=True)
        bona = Clusters.of(codes[:n_bonafide], names.size)
        spoof = Clusters.of(codes[n_bonafide:], names.size)
        has_b, has_s = bona.sizes > 0, spoof.sizes > 0
        kinds = (has_b & has_s, has_b & ~has_s, ~has_b & has_s)  # both, bona fide, spoof only
        strata = tuple(np.flatnonzero(kind) for kind in kinds if kind.any())
        varied = np.zeros(names.size, dtype=bool)  # in a stratum of >= 2 clusters
        for ids in strata:
            varied[ids] = ids.size >= 2
        n_b, n_s = int((has_b & varied).sum()), int((has_s & varied).sum())
        if min(n_b, n_s) < 2:
            raise MetricError(
                f"a clustered bootstrap needs >= 2 resampled clusters with each class, got "
                f"{n_b} bona fide and {n_s} spoof (clusters are resampled among those with the "
                "same classes, so a cluster alone of its kind never varies)"
            )
        return cls(bona, spoof, strata)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(bona fide indices, spoof indices) of one resample."""
        chosen = np.concatenate([ids[rng.integers(0, ids.size, ids.size)] for ids in self.strata])
        return self.bonafide.take(chosen, rng), self.spoof.take(chosen, rng)

    @property
    def sizes(self) -> tuple[int, int]:
        return self.bonafide.members.size, self.spoof.members.size


def bootstrap_intervals(
    statistic: Statistic,
    resampler: Resampler,
    n_resamples: int,
    ci_level: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point values and percentile bounds of ``statistic``, each of shape (m,).

    The point value is the statistic on all the data, not the bootstrap mean. A value that is
    NaN in some resamples (a per-attack EER when no utterance of that attack was drawn) takes
    its interval from the resamples that define it; NaN in every resample is an error.
    """
    if n_resamples < 1:
        raise MetricError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < ci_level < 1.0:
        raise MetricError(f"ci_level must be in (0, 1), got {ci_level}")
    n_bona, n_spoof = resampler.sizes
    point = np.asarray(statistic(np.arange(n_bona), np.arange(n_spoof)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    values = np.empty((n_resamples, point.size))
    for r in range(n_resamples):
        # Metrics sort internally, so they run per resample; only the draw is vectorised.
        values[r] = statistic(*resampler.draw(rng))
    alpha = 1.0 - ci_level
    low, high = np.empty(point.size), np.empty(point.size)
    for m in range(point.size):
        finite = values[np.isfinite(values[:, m]), m]
        if finite.size == 0:
            raise MetricError(f"statistic {m} is undefined in every resample")
        low[m], high[m] = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return point, low, high


def bootstrap_cis(
    metric_fns: Mapping[str, MetricFn],
    bonafide: ArrayLike,
    spoof: ArrayLike,
    n_resamples: int,
    ci_level: float,
    seed: int,
    bonafide_groups: ArrayLike | None = None,
    spoof_groups: ArrayLike | None = None,
) -> dict[str, Interval]:
    """Percentile intervals of several metrics over the SAME class-stratified resamples.

    Without groups the utterances are resampled, and every resample keeps the class counts
    of the data (the metrics are conditional on them). With groups (each utterance's speaker,
    the same label for a speaker in both classes), speakers are resampled, then their
    utterances (see the module docstring).
    """
    bona, spf = check_scores(bonafide, spoof)
    if not metric_fns:
        raise MetricError("metric_fns is empty")
    fns = list(metric_fns.values())
    point, low, high = bootstrap_intervals(
        lambda bi, si: [fn(bona[bi], spf[si]) for fn in fns],
        Resampler.build(bona.size, spf.size, bonafide_groups, spoof_groups), n_resamples,
        ci_level, seed,
    )
    return {name: (float(p), float(lo), float(hi))
            for name, p, lo, hi in zip(metric_fns, point, low, high, strict=True)}


def paired_bootstrap_cis(
    metric_fns: Mapping[str, MetricFn],
    ours: tuple[ArrayLike, ArrayLike],
    other: tuple[ArrayLike, ArrayLike],
    n_resamples: int,
    ci_level: float,
    seed: int,
    bonafide_groups: ArrayLike | None = None,
    spoof_groups: ArrayLike | None = None,
) -> dict[str, Interval]:
    """Intervals of ``metric(ours) - metric(other)``, both on the same resampled utterances.

    ``ours`` and ``other`` are (bonafide, spoof) scores of two systems on the SAME utterances
    in the same order, so position i of each is one utterance; each resample draws one set of
    positions and scores both systems on it, which cancels what the systems share (hard
    speakers, easy utterances) out of the difference. Identical systems give (0, 0, 0).
    """
    (ob, os_), (tb, ts) = check_scores(*ours), check_scores(*other)
    if (ob.size, os_.size) != (tb.size, ts.size):
        raise MetricError(f"paired systems must score the same utterances, got "
                          f"{ob.size}+{os_.size} and {tb.size}+{ts.size} scores")
    if not metric_fns:
        raise MetricError("metric_fns is empty")
    fns = list(metric_fns.values())
    point, low, high = bootstrap_intervals(
        lambda bi, si: [fn(ob[bi], os_[si]) - fn(tb[bi], ts[si]) for fn in fns],
        Resampler.build(ob.size, os_.size, bonafide_groups, spoof_groups), n_resamples,
        ci_level, seed,
    )
    return {name: (float(p), float(lo), float(hi))
            for name, p, lo, hi in zip(metric_fns, point, low, high, strict=True)}


def bootstrap_ci(
    metric_fn: MetricFn,
    bonafide: ArrayLike,
    spoof: ArrayLike,
    n_resamples: int,
    ci_level: float,
    seed: int,
) -> Interval:
    """(point, low, high): the metric on all data and its utterance-bootstrap interval."""
    return bootstrap_cis({"metric": metric_fn}, bonafide, spoof, n_resamples, ci_level, seed)[
        "metric"
    ]
