"""Source-filter model of bona fide speech: glottal pulses and noise through moving formants.

Klatt-style, at two rates: a 5 ms control track (formants, voicing, frication, pitch) drawn from a
random syllable sequence, and a sample-rate source (Rosenberg glottal flow derivative with jitter
and shimmer, aspiration and frication noise). The time-varying vocal tract is applied per STFT
frame as the exact frequency response of a cascade of two-pole resonators (minimum phase).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import lfilter

from spectcontra.data.dsp import fft_size, frame_times, istft, moving_average, rms, stft

CTRL_S = 0.005  # control-track step
# F1-F3 of ten English vowels, adult male averages (Peterson & Barney 1952).
VOWELS = np.array([
    [270, 2290, 3010], [390, 1990, 2550], [530, 1840, 2480], [660, 1720, 2410],
    [730, 1090, 2440], [570, 840, 2410], [440, 1020, 2240], [300, 870, 2240],
    [640, 1190, 2390], [490, 1350, 1690],
], dtype=float)
# Sonorant consonant targets: m/n, l, r, w, j.
SONORANTS = {"N": [280, 1200, 2500], "l": [360, 1300, 2700], "r": [420, 1300, 1600],
             "w": [300, 700, 2200], "j": [280, 2200, 3000]}
HIGH_FORMANTS = np.array([3500.0, 4500.0, 5500.0, 6500.0])  # F4-F7, average male tract
BANDWIDTHS = np.array([60.0, 90.0, 120.0, 180.0, 250.0, 350.0, 450.0])
# Fricative noise shapes (centre Hz, bandwidth Hz, level) and plosive bursts by place.
FRICATIVES = [(6500.0, 2000.0, 0.2), (3300.0, 1200.0, 0.2), (5000.0, 5000.0, 0.06)]
BURSTS = [(1200.0, 1500.0), (4000.0, 2500.0), (2200.0, 1000.0)]
RMS_LEVEL = 0.05


@dataclass(frozen=True)
class Speaker:
    """Per-speaker voice parameters; one speaker's utterances share them."""

    f0_hz: float  # median pitch
    f0_range_st: float  # size of pitch accents, semitones
    vtl_scale: float  # formant scale: > 1 is a shorter vocal tract
    jitter: float  # relative s.d. of period-to-period length
    shimmer: float  # s.d. of cycle-to-cycle log amplitude
    breathiness: float  # aspiration noise relative to voicing
    open_quotient: float
    tilt: float  # one-pole source low-pass coefficient: larger = softer, darker voice
    rate: float  # speaking-rate factor
    bw_scale: float  # formant bandwidth factor


@dataclass(frozen=True)
class CleanSpeech:
    """A clean utterance and the ground-truth parameters a vocoder attack may reuse."""

    wave: np.ndarray  # (samples,)
    f0_hz: np.ndarray  # (samples,) pitch, 0 where unvoiced
    voicing: np.ndarray  # (samples,) voiced-source gain in [0, 1]


def draw_speaker(rng: np.random.Generator, female: bool) -> Speaker:
    """A random adult speaker; ``female`` picks the higher pitch and shorter tract ranges."""
    return Speaker(
        f0_hz=float(rng.uniform(165, 260) if female else rng.uniform(85, 150)),
        f0_range_st=float(rng.uniform(1.5, 5.0)),
        vtl_scale=float(rng.uniform(1.08, 1.25) if female else rng.uniform(0.88, 1.05)),
        jitter=float(rng.uniform(0.003, 0.02)),
        shimmer=float(rng.uniform(0.02, 0.12)),
        breathiness=float(rng.uniform(0.02, 0.08)),
        open_quotient=float(rng.uniform(0.5, 0.7)),
        tilt=float(rng.uniform(0.1, 0.4)),
        rate=float(rng.uniform(0.8, 1.25)),
        bw_scale=float(rng.uniform(0.9, 1.2)),
    )


@dataclass(frozen=True)
class _Segment:
    """One phone-like stretch of the control track."""

    kind: str  # V vowel, N nasal, L liquid, F/Z fricative, C closure, X burst, H breath, _ pause
    seconds: float
    formants: tuple[float, float, float] | None = None  # F1-F3 targets; None carries them over
    voicing: float = 0.0
    frication: float = 0.0
    aspiration: float = 0.0
    fric_hz: float = 4000.0  # centre and width of the frication noise band
    fric_bw: float = 3000.0
    stressed: bool = False


class _Durations:
    """Draws segment durations at one speaking tempo."""

    def __init__(self, rng: np.random.Generator, tempo: float) -> None:
        self.rng, self.tempo = rng, tempo

    def __call__(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi)) / self.tempo


def _formants(values) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))


def _syllable(rng: np.random.Generator, stressed: bool, dur: _Durations) -> list[_Segment]:
    onset = rng.choice(["", "F", "Z", "P", "B", "N", "L", "H"],
                       p=[0.15, 0.15, 0.06, 0.18, 0.12, 0.14, 0.14, 0.06])
    segs = _consonant(rng, str(onset), dur)
    vowel = VOWELS[rng.integers(len(VOWELS))] * rng.normal(1.0, 0.04, 3)
    level = 1.0 if stressed else float(rng.uniform(0.55, 0.8))
    seconds = dur(0.10, 0.22) if stressed else dur(0.05, 0.12)
    segs.append(_Segment("V", seconds, _formants(vowel), voicing=level, stressed=stressed))
    coda = rng.choice(["", "N", "F", "P", "L"], p=[0.45, 0.2, 0.15, 0.12, 0.08])
    return segs + _consonant(rng, str(coda), dur)


def _consonant(rng: np.random.Generator, kind: str, dur: _Durations) -> list[_Segment]:
    if kind == "N":
        return [_Segment("N", dur(0.04, 0.09), _formants(SONORANTS["N"]), voicing=0.35)]
    if kind == "L":
        name = ["l", "r", "w", "j"][rng.integers(4)]
        return [_Segment("L", dur(0.03, 0.07), _formants(SONORANTS[name]), voicing=0.55)]
    if kind in ("F", "Z"):
        centre, width, level = FRICATIVES[rng.integers(len(FRICATIVES))]
        centre *= rng.uniform(0.9, 1.1)
        voiced = kind == "Z"
        seconds = dur(0.05, 0.10) if voiced else dur(0.07, 0.15)
        return [_Segment(kind, seconds, voicing=0.35 * voiced,
                         frication=level * rng.uniform(0.6, 1.2), fric_hz=centre, fric_bw=width)]
    if kind == "H":
        return [_Segment("H", dur(0.04, 0.08), aspiration=0.4)]
    if kind in ("P", "B"):
        centre, width = BURSTS[rng.integers(len(BURSTS))]
        voiced = kind == "B"
        closure = dur(0.03, 0.06) if voiced else dur(0.04, 0.08)
        segs = [_Segment("C", closure, voicing=0.1 * voiced),  # voiced stops keep a voice bar
                _Segment("X", float(rng.uniform(0.006, 0.014)), frication=0.5, fric_hz=centre,
                         fric_bw=width)]
        if not voiced:
            segs.append(_Segment("H", dur(0.02, 0.05), aspiration=0.35))
        return segs
    return []


def _plan(rng: np.random.Generator, spk: Speaker, seconds: float) -> list[_Segment]:
    """Syllables grouped into words and pause-separated phrases, stretched to ``seconds``."""
    dur = _Durations(rng, spk.rate * float(rng.normal(1.0, 0.07)))
    segs: list[_Segment] = []
    total = 0.0
    while total < seconds:
        if segs and rng.random() < 0.12:
            segs.append(_Segment("_", float(rng.uniform(0.12, 0.45))))
        n_syl = int(rng.integers(1, 4))
        stress_at = int(rng.integers(n_syl))
        for i in range(n_syl):
            segs += _syllable(rng, i == stress_at, dur)
        total = sum(seg.seconds for seg in segs)
    scale = seconds / total
    return [replace(seg, seconds=seg.seconds * scale) for seg in segs]


def _control(rng: np.random.Generator, spk: Speaker, segs: list[_Segment], n_ctrl: int) -> dict:
    """Render segments into 5 ms control tracks, smoothed for coarticulation."""
    bounds = np.round(np.cumsum([0.0] + [seg.seconds for seg in segs]) / CTRL_S).astype(int)
    bounds[-1] = n_ctrl
    formants = np.full((n_ctrl, 3), np.nan)
    av, af, ah, fc, fbw = (np.zeros(n_ctrl) for _ in range(5))
    bw_mult = np.ones(n_ctrl)
    st = np.zeros(n_ctrl)  # pitch in semitones around the speaker's median
    phrase_start = 0
    for i, seg in enumerate(segs):
        lo, hi = bounds[i], max(bounds[i + 1], bounds[i] + 1)
        if seg.formants is not None:
            formants[lo:hi] = seg.formants
        av[lo:hi], af[lo:hi], ah[lo:hi] = seg.voicing, seg.frication, seg.aspiration
        fc[lo:hi], fbw[lo:hi] = seg.fric_hz, seg.fric_bw
        bw_mult[lo:hi] = 2.0 if seg.kind == "N" else 1.0  # nasal murmur: damped resonances
        if seg.stressed:  # a pitch accent on the stressed vowel
            centre = (lo + hi) / 2
            width = max(8.0, (hi - lo) / 2)
            st += rng.uniform(0.5, 1.0) * spk.f0_range_st * np.exp(
                -0.5 * ((np.arange(n_ctrl) - centre) / width) ** 2)
        if seg.kind == "_" or i == len(segs) - 1:  # declination over the phrase just ended
            end = lo if seg.kind == "_" else hi
            drop = rng.uniform(1.0, 4.0)
            st[phrase_start:end] += np.linspace(drop / 2, -drop / 2, end - phrase_start)
            phrase_start = hi
    idx = np.arange(n_ctrl)
    known = ~np.isnan(formants[:, 0])
    for k in range(3):
        formants[:, k] = (np.interp(idx, idx[known], formants[known, k]) if known.any()
                          else VOWELS[4, k])
    wander = moving_average(rng.normal(0.0, 2.0, n_ctrl), 40)
    st += wander + rng.normal(0.0, 1.0)
    high = np.outer(np.ones(n_ctrl), HIGH_FORMANTS) * (1 + 0.02 * moving_average(
        rng.normal(0.0, 3.0, (n_ctrl, HIGH_FORMANTS.size)), 60, axis=0))
    freqs = np.concatenate([moving_average(formants, 8, axis=0), high], axis=1) * spk.vtl_scale
    return {
        "freqs": freqs,  # (ctrl, 7) Hz
        "bws": BANDWIDTHS * spk.bw_scale * moving_average(bw_mult, 6)[:, None],  # (ctrl, 7)
        "av": moving_average(av, 3), "af": moving_average(af, 2), "ah": moving_average(ah, 3),
        "fc": moving_average(fc, 3), "fbw": moving_average(fbw, 3),
        "f0": np.clip(spk.f0_hz * 2 ** (st / 12), 55.0, 420.0),
    }


def _glottal_source(rng: np.random.Generator, spk: Speaker, f0: np.ndarray,
                    sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg flow derivative with per-period jitter and shimmer; also the open-phase mask."""
    n = f0.size
    ext = np.concatenate([f0, np.full(sample_rate // 10, f0[-1])])
    phi = np.cumsum(ext) / sample_rate  # periods elapsed
    k = np.arange(int(phi[-1]))
    t_nom = np.interp(k, phi, np.arange(ext.size))
    periods = np.diff(t_nom) * (1 + spk.jitter * rng.standard_normal(k.size - 1))
    t_pulse = np.concatenate([[0.0], np.cumsum(periods)])
    phase = np.interp(np.arange(n), t_pulse, np.arange(t_pulse.size))
    cycle = np.minimum(phase.astype(int), t_pulse.size - 1)
    p = phase - cycle
    oq = spk.open_quotient
    tp, tn = 0.65 * oq, 0.35 * oq
    deriv = np.where(p < tp, 0.5 * np.pi / tp * np.sin(np.pi * p / tp),
                     np.where(p < oq, -0.5 * np.pi / tn * np.sin(0.5 * np.pi * (p - tp) / tn), 0.0))
    amp = np.exp(spk.shimmer * rng.standard_normal(t_pulse.size))[cycle]
    return deriv * amp, (p < oq).astype(float)


def _tract_response(freqs: np.ndarray, bws: np.ndarray, n_fft: int, sample_rate: int) -> np.ndarray:
    """Cascade of two-pole resonators, unity gain at DC: ``(frames, bins)`` complex.

    The sections multiply into one all-pole polynomial per frame, evaluated by one FFT.
    """
    radius = np.exp(-np.pi * bws / sample_rate)
    usable = freqs < 0.45 * sample_rate  # a formant near Nyquist is dropped
    b1 = np.where(usable, -2 * radius * np.cos(2 * np.pi * freqs / sample_rate), 0.0)
    b2 = np.where(usable, radius**2, 0.0)
    poly = np.zeros((freqs.shape[0], 2 * freqs.shape[1] + 1))
    poly[:, 0] = 1.0
    for k in range(freqs.shape[1]):  # multiply in 1 + b1 z^-1 + b2 z^-2
        old = poly.copy()
        poly[:, 1:] += b1[:, k:k + 1] * old[:, :-1]
        poly[:, 2:] += b2[:, k:k + 1] * old[:, :-2]
    return poly.sum(axis=1, keepdims=True) / np.fft.rfft(poly, n_fft, axis=1)


def _resample_track(track: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A control track (``(ctrl,)`` or ``(ctrl, k)``) read at ``times`` seconds."""
    t_ctrl = np.arange(track.shape[0]) * CTRL_S
    if track.ndim == 1:
        return np.interp(times, t_ctrl, track)
    return np.stack([np.interp(times, t_ctrl, column) for column in track.T], axis=1)


def synthesize(rng: np.random.Generator, spk: Speaker, n_samples: int,
               sample_rate: int) -> CleanSpeech:
    """``n_samples`` of speech that starts and ends with a speech sound, at RMS 0.05."""
    if n_samples < sample_rate // 20:
        raise ValueError(f"need at least 50 ms of speech, got {n_samples} samples")
    seconds = n_samples / sample_rate
    ctrl = _control(rng, spk, _plan(rng, spk, seconds), int(np.ceil(seconds / CTRL_S)) + 1)
    t = np.arange(n_samples) / sample_rate
    f0, av, af, ah = (_resample_track(ctrl[key], t) for key in ("f0", "av", "af", "ah"))
    pulses, open_phase = _glottal_source(rng, spk, f0, sample_rate)
    voiced = lfilter([1 - spk.tilt], [1, -spk.tilt], pulses * av)
    noise = rng.standard_normal((2, n_samples))
    aspiration = noise[0] * (spk.breathiness * av * (0.4 + 0.6 * open_phase) + ah)
    frication = noise[1] * af
    n_fft = fft_size(sample_rate)
    spec_tract = stft(0.3 * voiced + aspiration, n_fft)  # (frames, bins)
    spec_fric = stft(frication, n_fft)
    tf = frame_times(spec_tract.shape[0], n_fft, sample_rate)
    h_tract = _tract_response(_resample_track(ctrl["freqs"], tf), _resample_track(ctrl["bws"], tf),
                              n_fft, sample_rate)
    bins = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    fc, fbw = _resample_track(ctrl["fc"], tf)[:, None], _resample_track(ctrl["fbw"], tf)[:, None]
    h_fric = np.exp(-0.5 * ((bins - fc) / fbw) ** 2) + 0.03
    wave = istft(spec_tract * h_tract + spec_fric * h_fric, n_fft, n_samples)
    wave -= wave.mean()
    return CleanSpeech(wave * (RMS_LEVEL / rms(wave)), np.where(av > 0.05, f0, 0.0), av)
