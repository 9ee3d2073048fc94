"""Spoofing families: re-synthesis paths that leave the spectral traces real TTS and VC leave.

Every attack maps a clean utterance to a wave of the same length; levels, timing and the
channel are applied afterwards, identically for both classes, so only synthesis traces differ.
Train and dev share A01-A04; eval holds A05-A08: A05 and A06 are unseen families, A07 a known
family at a lower rate, A08 a known family reparameterised (as ASVspoof 2019's A16 repeats A04).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import lfilter, resample_poly
from torchaudio.functional import melscale_fbanks

from spectcontra.data.dsp import fft_size, fit_length, istft, moving_average, rms, stft
from spectcontra.data.speech_synth import CleanSpeech

Attack = Callable[[CleanSpeech, np.random.Generator, int], np.ndarray]


def mel_griffin_lim(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A01: Tacotron-style TTS: an over-smoothed mel spectrogram, phase by fast Griffin-Lim."""
    n_fft = fft_size(sample_rate)
    mag = _mel_magnitude(np.abs(stft(clean.wave, n_fft)), sample_rate, int(rng.integers(30, 61)),
                         smooth_s=float(rng.uniform(0.06, 0.12)))
    return _griffin_lim(mag, rng, clean.wave.size, n_iter=int(rng.integers(8, 33)))


def _mel_magnitude(mag: np.ndarray, sample_rate: int, n_mels: int, smooth_s: float) -> np.ndarray:
    """What an acoustic model hands its vocoder: a mel spectrogram blurred in time, un-melled.

    Models trained with L1/L2 losses predict the conditional mean, which blurs frames together;
    the mel filterbank is undone by its pseudo-inverse. ``mag``: ``(frames, bins)``.
    """
    n_fft = 2 * (mag.shape[1] - 1)
    fb = melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate,
                         norm="slaney", mel_scale="slaney").numpy()  # (bins, mels)
    log_mel = np.log(mag @ fb + 1e-6)
    log_mel = moving_average(log_mel, int(round(smooth_s * sample_rate * 4 / n_fft)), axis=0)
    return np.maximum(np.exp(log_mel) @ np.linalg.pinv(fb), 0.0)


def _griffin_lim(mag: np.ndarray, rng: np.random.Generator, length: int, n_iter: int) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) from a random phase."""
    n_fft = 2 * (mag.shape[1] - 1)
    spec = mag * np.exp(2j * np.pi * rng.random(mag.shape))
    previous = np.zeros_like(spec)
    for _ in range(n_iter):
        rebuilt = stft(istft(spec, n_fft, length), n_fft)
        accel = rebuilt + 0.99 * (rebuilt - previous)
        previous = rebuilt
        spec = mag * accel / np.maximum(np.abs(accel), 1e-12)  # keep the phase only
    return istft(spec, n_fft, length)


def _lpc(frames: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Levinson-Durbin over many frames at once: ``(frames, order + 1)`` predictors, error power."""
    n = frames.shape[1]
    spec = np.abs(np.fft.rfft(frames, 2 * n, axis=1)) ** 2
    r = np.fft.irfft(spec, axis=1)[:, :order + 1]
    r[:, 0] = r[:, 0] * 1.0001 + 1e-9  # white-noise correction keeps the filters stable
    a = np.zeros((frames.shape[0], order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -np.einsum("fj,fj->f", a[:, :i], r[:, i:0:-1]) / err
        a[:, 1:i + 1] = a[:, 1:i + 1] + k[:, None] * a[:, i - 1::-1][:, :i]
        err = err * (1 - k**2)
    return a, err


def _lpc_vocoder(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int, order: int,
                 hop_s: float) -> np.ndarray:
    """Frame-wise LPC re-synthesis excited by a pulse train at the true pitch, noise if unvoiced.

    The pulses carry no jitter, shimmer or aspiration: the classic buzzy vocoder.
    """
    x = lfilter([1, -0.97], [1], clean.wave)  # pre-emphasis flattens the tilt before LPC
    hop = max(1, int(hop_s * sample_rate))
    win = 2 * int(0.0125 * sample_rate)
    n_frames = x.size // hop + 1
    padded = np.pad(x, (win // 2, win + n_frames * hop))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][:n_frames]
    a, err = _lpc(frames * np.hanning(win), order)
    gain = np.sqrt(err / np.sum(np.hanning(win) ** 2))
    f0 = clean.f0_hz
    phase = np.cumsum(f0 / sample_rate)
    pulses = np.diff(np.floor(phase), prepend=0.0) * (f0 > 0)
    pulses *= np.sqrt(sample_rate / np.maximum(f0, 1.0))  # unit power whatever the pitch
    noise = rng.standard_normal(x.size)
    voiced = np.minimum(clean.voicing / 0.5, 1.0)
    excitation = np.where(voiced > 0.2, pulses, noise)
    out = np.zeros(x.size)
    state = np.zeros(order)
    for i in range(n_frames):
        lo, hi = i * hop, min(x.size, (i + 1) * hop)
        if lo >= hi:
            break
        out[lo:hi], state = lfilter([gain[i]], a[i], excitation[lo:hi], zi=state)
    return lfilter([1], [1, -0.97], out)


def lpc_pulse(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A02: buzzy low-order LPC vocoder (order 8-12 at 16 kHz, 5-10 ms frames, pulse or noise)."""
    order = int(round(sample_rate / 1000)) - int(rng.integers(4, 9))
    return _lpc_vocoder(clean, rng, sample_rate, order, float(rng.uniform(0.005, 0.010)))


def oversmoothed(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A03: statistical-parametric TTS look: envelopes averaged over time, formants flattened."""
    return _smooth_envelope(clean.wave, sample_rate, lifter=int(rng.integers(20, 31)),
                            span_s=float(rng.uniform(0.08, 0.16)),
                            contrast=float(rng.uniform(0.3, 0.5)))


def _smooth_envelope(x: np.ndarray, sample_rate: int, lifter: int, span_s: float,
                     contrast: float) -> np.ndarray:
    """Cepstral envelope (``lifter`` coefficients) averaged over ``span_s``, peaks x ``contrast``.

    The fine structure and the phase are kept, as a spectral-conversion VC keeps its source's
    excitation; only the envelope is over-smoothed.
    """
    n_fft = fft_size(sample_rate)
    spec = stft(x, n_fft)
    logmag = np.log(np.abs(spec) + 1e-7)
    cep = np.fft.irfft(logmag, n=n_fft, axis=1)
    cep[:, lifter:n_fft - lifter + 1] = 0.0
    env = np.fft.rfft(cep, axis=1).real
    fine = logmag - env
    cep[:, 4:n_fft - 3] = 0.0
    tilt = np.fft.rfft(cep, axis=1).real  # the broad spectral slope is kept as it is
    span = int(round(span_s * sample_rate / (n_fft // 4)))
    env_s, tilt_s = moving_average(env, span, axis=0), moving_average(tilt, span, axis=0)
    env_s = tilt_s + contrast * (env_s - tilt_s)  # shallower formant peaks and valleys
    phase = spec / np.maximum(np.abs(spec), 1e-12)
    return istft(np.exp(env_s + fine) * phase, n_fft, x.size)


def concatenation(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A04: unit selection: 20-80 ms units joined with jumps in position, rate, level and tilt.

    Units of a real inventory come from different recordings and contexts, hence each unit's
    own playback rate (a pitch and formant step at every join) and spectral tilt.
    """
    x = clean.wave
    slope = np.diff(x, prepend=0.0)
    out = np.zeros(x.size)
    pos, offset = 0, 0
    max_shift = int(0.015 * sample_rate)
    while pos < x.size:
        length = int(rng.uniform(0.02, 0.08) * sample_rate)
        fade = int(rng.uniform(0.0, 0.003) * sample_rate)
        offset = int(np.clip(offset // 2 + rng.integers(-max_shift, max_shift + 1),
                             -max_shift, max_shift))
        src = pos + offset + np.arange(length + fade) * rng.uniform(0.88, 1.12)
        src = np.clip(src, 0, x.size - 1)
        tilt = rng.uniform(-0.9, 0.9)
        unit = np.interp(src, np.arange(x.size), x + tilt * slope) * 10 ** (rng.uniform(-3, 3) / 20)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            unit[:fade] *= ramp
            unit[-fade:] *= ramp[::-1]
        end = min(x.size, pos + unit.size)
        out[pos:end] += unit[:end - pos]
        pos += length
    return out


def checkerboard(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A05: A01's acoustic model with a GAN vocoder instead of Griffin-Lim: upsampling aliasing.

    Each transposed-convolution stage (x2, x4, x8 from the output) leaves a period-u gain
    pattern, which images the spectrum at multiples of fs/u (the checkerboard artefact).
    """
    n_fft = fft_size(sample_rate)
    spec = stft(clean.wave, n_fft)
    mag = _mel_magnitude(np.abs(spec), sample_rate, 80, smooth_s=float(rng.uniform(0.06, 0.12)))
    phase = spec / np.maximum(np.abs(spec), 1e-12)  # a neural vocoder's phase is plausible
    x = istft(mag * phase, n_fft, clean.wave.size)
    for u in (2, 4, 8):
        pattern = rng.normal(0.0, 1.0, u)
        pattern = (pattern - pattern.mean()) / (pattern.std() + 1e-9)
        x = x * (1 + float(rng.uniform(0.005, 0.02)) * pattern[np.arange(x.size) % u])
    return x


def codec(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A06: voice conversion (mildly flattened envelopes) sent through a low-bitrate codec."""
    converted = _smooth_envelope(clean.wave, sample_rate, lifter=int(rng.integers(25, 36)),
                                 span_s=float(rng.uniform(0.04, 0.08)),
                                 contrast=float(rng.uniform(0.6, 0.75)))
    return _transform_codec(converted, rng, sample_rate)


def _transform_codec(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Per-band quantisation with noise filling, in 16 bands about equal on a log scale.

    A band far below the frame's strongest gets no bits and is replaced by noise of its level
    (noise filling, as in AAC and Opus); the rest are quantised with a step a few dB under the
    band's level, so harmonics turn partly to noise while band energies survive. Nothing is
    coded above the codec's audio bandwidth (5-7 kHz, as low-bitrate modes do).
    """
    n_fft = fft_size(sample_rate, seconds=float(rng.choice([0.016, 0.032])))
    spec = stft(x, n_fft)  # (frames, bins)
    edges = np.unique(np.round(np.geomspace(2, spec.shape[1], 17)).astype(int))
    edges[0] = 0
    snr_db = float(rng.uniform(2.0, 8.0))
    drop_db = float(rng.uniform(20.0, 30.0))
    levels = np.stack([np.mean(np.abs(spec[:, lo:hi]) ** 2, axis=1)
                       for lo, hi in zip(edges[:-1], edges[1:])], axis=1)  # (frames, bands)
    level_db = 10 * np.log10(levels + 1e-20)
    keep = level_db > level_db.max(axis=1, keepdims=True) - drop_db
    out = np.zeros_like(spec)
    for band, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        power = levels[:, band:band + 1]
        step = np.maximum(np.sqrt(power) * 10 ** (-snr_db / 20), 1e-9)
        quantised = step * (np.round(spec[:, lo:hi].real / step)
                            + 1j * np.round(spec[:, lo:hi].imag / step))
        shape = (spec.shape[0], hi - lo)
        filler = np.sqrt(power / 2) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
        out[:, lo:hi] = np.where(keep[:, band:band + 1], quantised, filler)
    out[:, np.fft.rfftfreq(n_fft, 1 / sample_rate) > rng.uniform(5000.0, 7000.0)] = 0.0
    return istft(out, n_fft, x.size)


def bandlimited_lpc(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A07: a low-rate (8-12 kHz) pulse-excited LPC voice, upsampled to the project rate."""
    low = int(rng.choice([8000, 11025, 12000]))
    if low >= sample_rate:
        return lpc_pulse(clean, rng, sample_rate)
    n_low = int(np.ceil(clean.wave.size * low / sample_rate))
    t_low = np.arange(n_low) * sample_rate / low
    idx = np.arange(clean.wave.size)
    down = CleanSpeech(resample_poly(clean.wave, low, sample_rate)[:n_low],
                       np.interp(t_low, idx, clean.f0_hz), np.interp(t_low, idx, clean.voicing))
    order = int(round(low / 1000)) - int(rng.integers(1, 4))
    voiced = _lpc_vocoder(down, rng, low, order, float(rng.uniform(0.005, 0.010)))
    return fit_length(resample_poly(voiced, sample_rate, low), clean.wave.size)


def oversmoothed_light(clean: CleanSpeech, rng: np.random.Generator,
                       sample_rate: int) -> np.ndarray:
    """A08: A03's family reparameterised: shorter smoothing, milder flattening, finer envelope."""
    return _smooth_envelope(clean.wave, sample_rate, lifter=int(rng.integers(30, 41)),
                            span_s=float(rng.uniform(0.04, 0.08)),
                            contrast=float(rng.uniform(0.5, 0.65)))


ATTACKS: dict[str, Attack] = {
    "A01": mel_griffin_lim, "A02": lpc_pulse, "A03": oversmoothed, "A04": concatenation,
    "A05": checkerboard, "A06": codec, "A07": bandlimited_lpc, "A08": oversmoothed_light,
}
KNOWN_ATTACKS = ("A01", "A02", "A03", "A04")  # train and dev
UNSEEN_ATTACKS = ("A05", "A06", "A07", "A08")  # eval only


def apply_attack(attack: str, clean: CleanSpeech, rng: np.random.Generator,
                 sample_rate: int) -> np.ndarray:
    """Run ``attack`` and return a zero-mean wave of the clean length at the clean RMS."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; expected one of {sorted(ATTACKS)}")
    out = ATTACKS[attack](clean, rng, sample_rate)
    if out.shape != clean.wave.shape or not np.isfinite(out).all():
        raise RuntimeError(f"attack {attack} returned shape {out.shape} or non-finite samples")
    out = out - out.mean()
    return out * (rms(clean.wave) / rms(out))
