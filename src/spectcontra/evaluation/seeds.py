"""Seed-averaged eval metrics: a t-interval across training seeds and a bootstrap interval of
the seed mean over the same speaker-clustered resamples of eval.

The two intervals answer different questions. The t-interval (n - 1 degrees of freedom) says
how much the recipe's eval EER moves when it is retrained on the same data; it ignores that
eval is a sample. The pooled bootstrap draws eval speakers and utterances as
:mod:`spectcontra.evaluation.bootstrap` describes and scores every seed on each resample, so
it says how much the seed-mean EER would move on other eval speakers; it ignores seed
variance beyond the seeds that were run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from spectcontra.config import EvaluateConfig
from spectcontra.evaluation.bootstrap import MetricFn, bootstrap_intervals
from spectcontra.evaluation.evaluate import eer, resampler, split_scores
from spectcontra.evaluation.metrics import MetricError, cllr, min_dcf, roc_auc

SEED_METRICS: dict[str, MetricFn] = {"eer": eer, "min_dcf": min_dcf, "cllr": cllr,
                                     "roc_auc": roc_auc}


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval mean +- t_{(1+level)/2, n-1} * s / sqrt(n).

    s is the sample standard deviation (ddof 1). With one value the interval is undefined
    and low and high are NaN; no value, or a non-finite one, is an error.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0 or not np.isfinite(x).all():
        raise MetricError(f"a t-interval needs finite values, got {x.tolist()}")
    mean = float(x.mean())
    if x.size == 1:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2.0, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return mean, float(mean - half), float(mean + half)


def seed_summary(eval_tables: Mapping[int, pd.DataFrame], cfg: EvaluateConfig,
                 seed: int) -> dict[str, float]:
    """``<metric>_seed_mean`` with ``_t_ci_low/high`` (across seeds) and ``_pooled_ci_low/high``
    (speaker-clustered bootstrap of the seed mean), plus ``<metric>_seed_sd`` and ``n_seeds``.

    Every table must score the same eval utterances (as the seeds of one recipe do).
    """
    sets = [split_scores(t, f"seed {s} eval") for s, t in eval_tables.items()]
    _same_utterances(eval_tables)
    fns = list(SEED_METRICS.values())

    def seed_means(bona_idx: np.ndarray, spoof_idx: np.ndarray) -> list[float]:
        per_seed = np.array([[fn(s.bonafide[bona_idx], s.spoof[spoof_idx]) for fn in fns]
                             for s in sets])
        return list(per_seed.mean(axis=0))

    _, low, high = bootstrap_intervals(seed_means, resampler(sets[0], cfg.bootstrap_unit, "eval"),
                                       cfg.n_bootstrap, cfg.ci_level, seed)
    out: dict[str, float] = {"n_seeds": float(len(sets))}
    for m, (key, fn) in enumerate(SEED_METRICS.items()):
        values = [fn(s.bonafide, s.spoof) for s in sets]
        mean, t_low, t_high = t_interval(values, cfg.ci_level)
        out.update({f"{key}_seed_mean": mean, f"{key}_seed_sd": float(np.std(values, ddof=1))
                    if len(values) > 1 else float("nan"),
                    f"{key}_seed_t_ci_low": t_low, f"{key}_seed_t_ci_high": t_high,
                    f"{key}_seed_pooled_ci_low": float(low[m]),
                    f"{key}_seed_pooled_ci_high": float(high[m])})
    return out


def _same_utterances(tables: Mapping[int, pd.DataFrame]) -> None:
    ids = [frozenset(t["utt_id"]) for t in tables.values()]
    if any(i != ids[0] for i in ids[1:]):
        raise MetricError("every seed must score the same eval utterances")
