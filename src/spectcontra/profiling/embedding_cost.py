"""CPU cost of the frozen pretrained-embedding baseline, in the profile stage's flat keys.

The whole scoring path is timed (resemblyzer's preprocessing, the GE2E encoder over the whole
clip, the linear classifier), beside ours and wav2vec2-base. Keys start ``pretrained_embedding_``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from spectcontra.baselines.pretrained_embedding import (
    load_encoder,
    make_classifier,
    utterance_embeddings,
)
from spectcontra.profiling.benchmark import latency_grid, model_size, noise_clip
from spectcontra.profiling.energy import energy_of
from spectcontra.profiling.measure import count_macs, peak_rss_mb, threads

PREFIX = "pretrained_embedding"
ENERGY_CALLS = 100  # 4 s clips per energy measurement (~70 ms each on one thread)
RSS_PROBE = (
    "import numpy as np, torch\n"
    "from spectcontra.baselines.pretrained_embedding import load_encoder, utterance_embeddings\n"
    "from spectcontra.profiling.memory import report_own_peak_rss\n"
    "torch.set_num_threads(1)\n"
    "wave = (0.1 * np.random.default_rng(0).standard_normal({n})).astype(np.float32)\n"
    "utterance_embeddings(load_encoder(), [wave], {sr})\n"
    "report_own_peak_rss()\n"
)


def lstm_macs(lstm: nn.LSTM, batch: int, steps: int) -> int:
    """Multiply-accumulates of an LSTM's gate matmuls: per layer and step, 4 gates x hidden x
    (input + hidden). torch's FLOP counter does not see the fused LSTM kernel, so these are
    counted from the layer shapes."""
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError("lstm_macs covers unidirectional LSTMs without projections")
    h = lstm.hidden_size
    per_step = sum(4 * h * ((lstm.input_size if k == 0 else h) + h) for k in range(lstm.num_layers))
    return per_step * batch * steps


def encoder_macs(encoder: nn.Module, call: Callable[[], object]) -> int:
    """MACs of ``call``: what the FLOP counter sees, plus the LSTM steps it runs."""
    shapes: list[tuple[int, ...]] = []
    hook = encoder.lstm.register_forward_pre_hook(lambda _m, inp: shapes.append(inp[0].shape))
    try:
        counted = count_macs(call)
    finally:
        hook.remove()
    return counted + sum(lstm_macs(encoder.lstm, b, t) for b, t, _ in shapes)  # (batch, frames, mels)


def _scorer(sample_rate: int, seed: int) -> tuple[nn.Module, Callable[[np.ndarray], float]]:
    """The encoder and the whole scoring path, its classifier fitted on seeded noise (the cost
    does not depend on the fit)."""
    encoder = load_encoder()
    clips = [noise_clip(1.0, sample_rate, seed + i) for i in range(8)]
    clf = make_classifier("logreg", 1.0, seed).fit(
        utterance_embeddings(encoder, clips, sample_rate), np.arange(8) % 2)

    def score(wave: np.ndarray) -> float:
        return float(clf.decision_function(utterance_embeddings(encoder, [wave], sample_rate))[0])

    return encoder, score


def embedding_cost(durations: Sequence[float], thread_counts: Sequence[int], sample_rate: int,
                   warmup: int, runs: int, seed: int) -> dict[str, Any]:
    """Latency grid, parameters and weight size, MACs per audio second, peak RSS of a fresh
    process and energy per 1000 four-second clips, as flat ``pretrained_embedding_*`` keys."""
    encoder, score = _scorer(sample_rate, seed)
    out = latency_grid(lambda w: (lambda: score(w)), durations, thread_counts, sample_rate,
                       warmup, runs, seed)
    out.update(model_size(encoder))
    clip4 = noise_clip(4.0, sample_rate, seed)
    out["macs_per_audio_s"] = round(encoder_macs(encoder, lambda: score(clip4)) / 4.0)
    probe = RSS_PROBE.format(n=clip4.size, sr=sample_rate)
    out["peak_rss_mb"] = peak_rss_mb([sys.executable, "-c", probe])
    with threads(1):
        rec = energy_of(f"inference-{PREFIX}",
                        lambda: [score(clip4) for _ in range(ENERGY_CALLS)])
    if rec.get("measured"):
        out["energy_kwh_per_1000_utt"] = rec["energy_kwh"] * 1000 / ENERGY_CALLS
    else:
        out["energy_status"] = rec["reason"]
    return {f"{PREFIX}_{k}": v for k, v in out.items()}
