"""Spoofing families: re-synthesis paths that leave the spectral traces real TTS and VC leave.

Every attack maps a clean utterance to a wave of the same length; levels, timing and the
channel are applied afterwards, identically for both classes, so only synthesis traces differ.
Train and dev share A01-A04; eval holds A05-A08 (A08 is A02's family, reparameterised, as
ASVspoof 2019's A16 repeats A04).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.signal import lfilter, resample_poly
from torchaudio.functional import melscale_fbanks

from spectcontra.data.dsp import fft_size, fit_length, istft, moving_average, rms, stft
from spectcontra.data.speech_synth import CleanSpeech

Attack = Callable[[CleanSpeech, np.random.Generator, int], np.ndarray]


def mel_griffin_lim(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A01: Tacotron-style mel spectrogram, pseudo-inverted, phase by fast Griffin-Lim."""
    return _mel_gl(clean.wave, rng, sample_rate, n_mels=int(rng.integers(30, 61)),
                   n_iter=int(rng.integers(4, 17)), power=float(rng.uniform(1.3, 1.6)))


def _mel_gl(x: np.ndarray, rng: np.random.Generator, sample_rate: int, n_mels: int,
            n_iter: int, power: float) -> np.ndarray:
    """Mel magnitudes, pseudo-inverted and raised to ``power`` (Tacotron sharpens by 1.2-1.5)."""
    n_fft = fft_size(sample_rate)
    mag = np.abs(stft(x, n_fft))  # (frames, bins)
    fb = _mel_fbank(n_fft, n_mels, sample_rate).numpy()  # (bins, mels)
    mag = np.maximum((mag @ fb) @ np.linalg.pinv(fb), 0.0) ** power
    spec = mag * np.exp(2j * np.pi * rng.random(mag.shape))
    previous = np.zeros_like(spec)
    for _ in range(n_iter):  # fast Griffin-Lim (Perraudin et al. 2013), momentum 0.99
        rebuilt = stft(istft(spec, n_fft, x.size), n_fft)
        accel = rebuilt + 0.99 * (rebuilt - previous)
        previous = rebuilt
        spec = mag * accel / np.maximum(np.abs(accel), 1e-12)  # keep the phase only
    return istft(spec, n_fft, x.size)


def _mel_fbank(n_fft: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    return melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate,
                           norm="slaney", mel_scale="slaney")


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
                 hop_s: float, noise_mix: float, jitter: float) -> np.ndarray:
    """Frame-wise LPC re-synthesis excited by a pulse train at the true pitch, noise if unvoiced.

    ``noise_mix`` blends noise into voiced excitation (mixed excitation); ``jitter`` perturbs
    pulse spacing. Both at 0 give the classic buzzy vocoder.
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
    phase = np.cumsum(f0 / sample_rate * (1 + jitter * rng.standard_normal(f0.size)))
    pulses = np.diff(np.floor(phase), prepend=0.0) * (f0 > 0)
    pulses *= np.sqrt(sample_rate / np.maximum(f0, 1.0))  # unit power whatever the pitch
    noise = rng.standard_normal(x.size)
    voiced = np.minimum(clean.voicing / 0.5, 1.0)
    excitation = np.where(voiced > 0.2, np.sqrt(1 - noise_mix) * pulses + np.sqrt(noise_mix) * noise,
                          noise)
    out = np.zeros(x.size)
    state = np.zeros(order)
    for i in range(n_frames):
        lo, hi = i * hop, min(x.size, (i + 1) * hop)
        if lo >= hi:
            break
        out[lo:hi], state = lfilter([gain[i]], a[i], excitation[lo:hi], zi=state)
    return lfilter([1], [1, -0.97], out)


def lpc_pulse(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A02: buzzy LPC vocoder (order about 16 at 16 kHz, 5-10 ms frames, pulse-or-noise)."""
    order = int(round(sample_rate / 1000)) - int(rng.integers(2, 7))
    return _lpc_vocoder(clean, rng, sample_rate, order, float(rng.uniform(0.005, 0.010)),
                        noise_mix=0.0, jitter=0.0)


def oversmoothed(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A03: statistical-parametric TTS look: envelopes averaged over time, formants flattened."""
    return _smooth_envelope(clean.wave, sample_rate, lifter=int(rng.integers(20, 31)),
                            span_s=float(rng.uniform(0.06, 0.12)),
                            contrast=float(rng.uniform(0.4, 0.6)))


def _smooth_envelope(x: np.ndarray, sample_rate: int, lifter: int, span_s: float,
                     contrast: float) -> np.ndarray:
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
    """A04: unit selection: 30-120 ms units joined with offsets, level and tilt steps, short fades.

    Units of a real inventory come from different recordings, hence the per-unit spectral tilt.
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
        src = np.clip(np.arange(pos, pos + length + fade) + offset, 0, x.size - 1)
        unit = (x[src] + rng.uniform(-0.9, 0.9) * slope[src]) * 10 ** (rng.uniform(-3, 3) / 20)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            unit[:fade] *= ramp
            unit[-fade:] *= ramp[::-1]
        end = min(x.size, pos + unit.size)
        out[pos:end] += unit[:end - pos]
        pos += length
    return out


def checkerboard(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A05: neural-vocoder upsampling layers: a period-u gain pattern images the spectrum."""
    x = clean.wave
    out = x.copy()
    for u in (2, 4, 8):  # one pattern per transposed-convolution stage
        pattern = rng.normal(0.0, 1.0, u)
        pattern = (pattern - pattern.mean()) / (pattern.std() + 1e-9)
        beta = float(rng.uniform(0.02, 0.06))
        out = out * (1 + beta * pattern[np.arange(x.size) % u])
    return out


def codec(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A06: transform-codec quantisation: per-band step sizes leave holes and shaped noise."""
    n_fft = fft_size(sample_rate, seconds=float(rng.choice([0.016, 0.032])))
    spec = stft(clean.wave, n_fft)
    n_bands = 16
    edges = np.unique(np.round(np.geomspace(2, spec.shape[1], n_bands + 1)).astype(int))
    edges[0] = 0
    snr_db = float(rng.uniform(4.0, 10.0))
    out = np.zeros_like(spec)
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = spec[:, lo:hi]
        step = np.sqrt(np.mean(np.abs(band) ** 2, axis=1, keepdims=True)) * 10 ** (-snr_db / 20)
        step = np.maximum(step, 1e-9)
        out[:, lo:hi] = step * (np.round(band.real / step) + 1j * np.round(band.imag / step))
    return istft(out, n_fft, clean.wave.size)


def bandlimited_gl(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A07: a low-rate TTS (8-12 kHz, Griffin-Lim vocoded) upsampled to the project rate."""
    low = int(rng.choice([8000, 11025, 12000]))
    if low >= sample_rate:
        return _mel_gl(clean.wave, rng, sample_rate, n_mels=80, n_iter=32, power=1.0)
    down = resample_poly(clean.wave, low, sample_rate)
    down = _mel_gl(down, rng, low, n_mels=int(rng.integers(60, 81)), n_iter=32, power=1.0)
    up = resample_poly(down, sample_rate, low)
    return fit_length(up, clean.wave.size)


def lpc_mixed(clean: CleanSpeech, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A08: A02's family reparameterised: higher order, mixed excitation with jitter."""
    order = int(round(1.5 * sample_rate / 1000)) + int(rng.integers(0, 5))
    return _lpc_vocoder(clean, rng, sample_rate, order, float(rng.uniform(0.004, 0.006)),
                        noise_mix=float(rng.uniform(0.1, 0.3)), jitter=0.01)


ATTACKS: dict[str, Attack] = {
    "A01": mel_griffin_lim, "A02": lpc_pulse, "A03": oversmoothed, "A04": concatenation,
    "A05": checkerboard, "A06": codec, "A07": bandlimited_gl, "A08": lpc_mixed,
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
