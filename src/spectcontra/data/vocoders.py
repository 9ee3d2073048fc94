"""Copy-synthesis vocoders from maintained libraries: the spoofing families of the Debian corpus.

Each family re-synthesises a real recording, ``(wave, sample_rate, seed) -> wave`` of the same
length, float32, deterministic in ``seed``. They imitate the waveform generators of ASVspoof 2019
LA (Wang et al. 2020, Computer Speech & Language 64): WORLD (A02, A03, A05), an MFCC/mel-cepstral
vocoder (A18), Griffin-Lim (A11), and spectral filtering + overlap-add (A06/A19).

Train and dev hold the four *parametric analysis-synthesis* families, which rebuild every sample
from a compact model (F0 + envelope + aperiodicity, or a magnitude spectrogram). Eval alone holds
three families that keep part of the recorded waveform and modify it, each a different
algorithm from every known family: PSOLA (time-domain pitch-synchronous overlap-add), spectral
filtering (the recorded STFT, phase kept, magnitude filtered), and a phase vocoder (the
recorded STFT magnitudes, phase propagated). None is a known family with other settings.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import parselmouth
import scipy.signal
import torch
import torchaudio
from parselmouth.praat import call

from spectcontra.data.dsp import fft_size, fit_length

with warnings.catch_warnings():
    # pyworld 0.3.5 and pysptk 1.0.1 import pkg_resources to read their own versions (hence
    # the setuptools < 81 pin), which warns that it is deprecated; nothing here relies on it.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    import pysptk
    import pyworld
    from pysptk.synthesis import MLSADF, Synthesizer

Vocoder = Callable[[np.ndarray, int, int], np.ndarray]

FRAME_MS = 5.0  # WORLD's default frame period
F0_FLOOR, F0_CEIL = 71.0, 800.0  # WORLD's DIO defaults; wide enough for any adult voice
# The mel-cepstral analysis is iterative and, at 5 ms frames, would take most of the corpus's
# generation time; the MLSA vocoder analyses 10 ms frames instead.
MLSA_FRAME_MS = 10.0
# HTS-style 16 kHz systems use 24-39 mel-cepstral coefficients; the spectral filter (V06)
# lifters its envelope at the same order.
MCEP_ORDER = 24


def _as_f64(wave: np.ndarray) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"a vocoder expects a non-empty 1-D wave, got shape {x.shape}")
    return np.ascontiguousarray(x)


def _finish(y: np.ndarray, length: int) -> np.ndarray:
    return fit_length(np.asarray(y, dtype=np.float64), length).astype(np.float32)


# --------------------------------------------------------------------------- known families


@functools.lru_cache(maxsize=8)
def _mel_alpha(sample_rate: int) -> float:
    # The all-pass constant whose warping best fits the mel scale: a search SPTK runs for
    # tens of milliseconds, as long as vocoding a short word, so it runs once per rate.
    return float(pysptk.util.mcepalpha(sample_rate))


def _world_analysis(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, ...]:
    """WORLD (Morise et al. 2016): DIO + StoneMask F0, CheapTrick envelope, D4C aperiodicity."""
    f0, times = pyworld.dio(x, sample_rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL,
                            frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, times, sample_rate)
    envelope = pyworld.cheaptrick(x, f0, times, sample_rate)  # (frames, fft_size // 2 + 1)
    aperiodicity = pyworld.d4c(x, f0, times, sample_rate)  # (frames, fft_size // 2 + 1)
    return f0, envelope, aperiodicity


def world(wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """V01: WORLD analysis and synthesis, every parameter at full resolution (no randomness)."""
    x = _as_f64(wave)
    f0, envelope, aperiodicity = _world_analysis(x, sample_rate)
    return _finish(pyworld.synthesize(f0, envelope, aperiodicity, sample_rate, FRAME_MS), x.size)


def world_coded(wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """V02: WORLD through the features a statistical TTS model predicts.

    The envelope is coded as 24-40 mel-cepstral coefficients (drawn from ``seed``) and the
    aperiodicity as WORLD's band aperiodicities, then decoded: the smoothing of an SPSS vocoder.
    """
    x = _as_f64(wave)
    f0, envelope, aperiodicity = _world_analysis(x, sample_rate)
    n_fft = 2 * (envelope.shape[1] - 1)
    dims = int(np.random.default_rng(seed).integers(MCEP_ORDER, 41))
    coded = pyworld.code_spectral_envelope(envelope, sample_rate, dims)
    bands = pyworld.code_aperiodicity(aperiodicity, sample_rate)
    envelope = pyworld.decode_spectral_envelope(coded, sample_rate, n_fft)
    aperiodicity = pyworld.decode_aperiodicity(bands, sample_rate, n_fft)
    return _finish(pyworld.synthesize(f0, envelope, aperiodicity, sample_rate, FRAME_MS), x.size)


def mlsa(wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """V03: the HTS mel-cepstral vocoder: SWIPE' pitch, mel-cepstrum, pulse/noise excitation
    through an MLSA filter (SPTK via pysptk); ``seed`` drives the unvoiced noise."""
    x = _as_f64(wave)
    hop = int(round(MLSA_FRAME_MS * sample_rate / 1000))
    n_fft = fft_size(sample_rate)
    alpha = _mel_alpha(sample_rate)
    pitch = pysptk.swipe(x, sample_rate, hop, min=F0_FLOOR, max=F0_CEIL, otype="pitch")
    padded = np.pad(x, (n_fft // 2, n_fft // 2 + hop * pitch.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:pitch.size]
    mcep = pysptk.mcep(frames * pysptk.blackman(n_fft), MCEP_ORDER, alpha, etype=1,
                       eps=1e-8)  # (frames, order + 1); eps keeps silent frames finite
    excitation = pysptk.excite(pitch.astype(np.float64), hop, gaussian=True,
                               seed=int(seed % 2**31))
    synthesizer = Synthesizer(MLSADF(order=MCEP_ORDER, alpha=alpha), hop)
    return _finish(synthesizer.synthesis(excitation, pysptk.mc2b(mcep, alpha)), x.size)


def mel_griffin_lim(wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """V04: Tacotron's first vocoder: 80-band mel magnitudes, pseudo-inverted, phase by fast
    Griffin-Lim (momentum 0.99, 30-60 iterations drawn from ``seed``, zero initial phase)."""
    x = torch.from_numpy(_as_f64(wave).astype(np.float32))
    n_fft = 2 * fft_size(sample_rate)  # 64 ms at 16 kHz, as Tacotron's 1024 points at 22 kHz
    hop = n_fft // 4
    n_iter = int(np.random.default_rng(seed).integers(30, 61))
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n_fft, hop_length=hop,
                                               n_mels=80, power=1.0)
    inverse = torchaudio.transforms.InverseMelScale(n_fft // 2 + 1, 80, sample_rate)
    griffin_lim = torchaudio.transforms.GriffinLim(n_fft=n_fft, hop_length=hop, power=1.0,
                                                   n_iter=n_iter, momentum=0.99,
                                                   length=x.numel(), rand_init=False)
    with torch.no_grad():
        return _finish(griffin_lim(inverse(mel(x))).numpy(), x.numel())


# --------------------------------------------------------------------------- eval-only families


def psola(wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """V05: Praat's PSOLA resynthesis with a close-copy stylised pitch contour.

    Pitch points are kept where the contour bends by more than 1-3 semitones (drawn from
    ``seed``), as prosody rules or a unit-selection back end would give them; the waveform is
    re-assembled from the recorded pitch periods by overlap-add.
    """
    x = _as_f64(wave)
    resolution = float(np.random.default_rng(seed).uniform(1.0, 3.0))
    sound = parselmouth.Sound(x, sampling_frequency=sample_rate)
    manipulation = call(sound, "To Manipulation", 0.01, F0_FLOOR, F0_CEIL)
    tier = call(manipulation, "Extract pitch tier")
    call(tier, "Stylize...", resolution, "Semitones")
    call([tier, manipulation], "Replace pitch tier")
    return _finish(call(manipulation, "Get resynthesis (overlap-add)").values[0], x.size)


def spectral_filter(wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """V06: spectral filtering + overlap-add, as ASVspoof's A06/A19 voice conversion.

    Each STFT frame keeps its phase and fine structure; its magnitude is multiplied by the
    ratio of a frequency-warped to the original cepstral envelope (all-pass warping of the
    cepstrum, SPTK's ``freqt``, by 0.03-0.08 either way, drawn from ``seed``): the formants
    move as for a speaker with another vocal-tract length.
    """
    x = _as_f64(wave)
    rng = np.random.default_rng(seed)
    warp = float(rng.uniform(0.03, 0.08) * rng.choice([-1.0, 1.0]))
    n_fft = fft_size(sample_rate)
    _, _, spec = scipy.signal.stft(x, sample_rate, nperseg=n_fft, noverlap=3 * n_fft // 4)
    log_mag = np.log(np.abs(spec).T + 1e-9)  # (frames, bins)
    real_cepstrum = np.fft.irfft(log_mag, n=n_fft, axis=1)[:, :MCEP_ORDER + 1]
    cepstrum = real_cepstrum * np.r_[1.0, np.full(MCEP_ORDER, 2.0)]  # SPTK's one-sided convention
    warped = np.stack([pysptk.freqt(c, MCEP_ORDER, warp) for c in cepstrum])
    gain = np.exp(np.fft.rfft(warped - cepstrum, n=n_fft, axis=1).real)  # (frames, bins)
    _, y = scipy.signal.istft(spec * gain.T, sample_rate, nperseg=n_fft,
                              noverlap=3 * n_fft // 4)
    return _finish(y, x.size)


def phase_vocoder(wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """V07: a phase-vocoder time-stretch round trip (torchaudio): stretched by 1.2-1.6 (drawn
    from ``seed``) and back, so length, pitch and formants return but the phase is rebuilt by
    frame-to-frame propagation (phasiness, smeared onsets)."""
    x = torch.from_numpy(_as_f64(wave).astype(np.float32))
    rate = float(np.random.default_rng(seed).uniform(1.2, 1.6))
    n_fft = fft_size(sample_rate)
    hop = n_fft // 4
    window = torch.hann_window(n_fft)
    advance = torch.linspace(0, np.pi * hop, n_fft // 2 + 1)[..., None]  # (bins, 1)
    with torch.no_grad():
        spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)
        spec = torchaudio.functional.phase_vocoder(spec, rate, advance)
        spec = torchaudio.functional.phase_vocoder(spec, 1.0 / rate, advance)
        y = torch.istft(spec, n_fft, hop, window=window, length=x.numel())
    return _finish(y.numpy(), x.numel())


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Family:
    attack: str  # the attack id written in the protocol
    name: str
    library: str
    eval_only: bool
    vocode: Vocoder


FAMILIES: tuple[Family, ...] = (
    Family("V01", "WORLD", "pyworld", False, world),
    Family("V02", "WORLD, mel-cepstral coded", "pyworld", False, world_coded),
    Family("V03", "MLSA mel-cepstral vocoder", "pysptk", False, mlsa),
    Family("V04", "mel spectrogram + Griffin-Lim", "torchaudio", False, mel_griffin_lim),
    Family("V05", "PSOLA, stylised pitch", "praat-parselmouth", True, psola),
    Family("V06", "spectral filtering + overlap-add", "scipy + pysptk", True, spectral_filter),
    Family("V07", "phase-vocoder round trip", "torchaudio", True, phase_vocoder),
)
BY_ATTACK = {f.attack: f for f in FAMILIES}
KNOWN_ATTACKS = tuple(f.attack for f in FAMILIES if not f.eval_only)
UNSEEN_ATTACKS = tuple(f.attack for f in FAMILIES if f.eval_only)


def vocode(attack: str, wave: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """Re-synthesise ``wave`` with the family ``attack`` (e.g. ``"V01"``)."""
    family = BY_ATTACK.get(attack)
    if family is None:
        raise ValueError(f"unknown vocoder attack {attack!r}; expected one of {sorted(BY_ATTACK)}")
    out = family.vocode(wave, sample_rate, seed)
    if not np.isfinite(out).all():
        raise RuntimeError(f"vocoder {attack} ({family.name}) gave non-finite samples, seed {seed}")
    return out
