"""Audio input: read a file into a checked mono float32 wave at the project rate; trim silence."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from spectcontra.conventions import (
    AUDIO_EXTENSIONS,
    MAX_AUDIO_RATE,
    MAX_AUDIO_SAMPLES,
    MIN_AUDIO_RATE,
    MIN_AUDIO_SECONDS,
)
from spectcontra.errors import InputError

# "sinc": torchaudio's windowed-sinc resampler (scipy's polyphase one past MAX_SINC_KERNEL),
# as training used. "polyphase": scipy's only, so a torch-free process stays torch-free.
Resampler = Literal["sinc", "polyphase"]
RESAMPLERS: tuple[str, ...] = ("sinc", "polyphase")

# Peak |x| below 1e-6 (-120 dBFS) is digital silence: the smallest non-zero 16-bit PCM sample
# is 2**-15 (about 3e-5), so for integer formats this means "every sample is exactly zero".
SILENCE_PEAK = 1e-6
# torchaudio builds a dense (new/g, orig/g + width) sinc kernel, g = gcd(orig, new); for an
# odd rate such as 22051 Hz that is hundreds of millions of floats. Past this size we use
# scipy's polyphase resampler, whose memory grows with the filter length only.
MAX_SINC_KERNEL = 4_000_000
TRIM_FRAME_SECONDS = 0.025
TRIM_HOP_SECONDS = 0.010


class AudioError(InputError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"bad audio file {path}: {reason}")
        self.path = Path(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:
        # Keeps the two-argument constructor picklable across worker processes.
        return (AudioError, (self.path, self.reason))


@dataclass(frozen=True)
class Audio:
    """A checked wave and the rate its file was stored at."""

    wave: np.ndarray  # (samples,) mono float32 at sample_rate
    sample_rate: int
    native_rate: int  # the file's own rate, before resampling

    @property
    def upsampled(self) -> bool:
        """True when the file's rate was below :attr:`sample_rate`: its top band is empty,
        which a detector trained on full-band audio may read as a spoofing trace."""
        return self.native_rate < self.sample_rate


def load_audio(path: str | Path, sample_rate: int, max_seconds: float,
               resampler: Resampler = "sinc") -> np.ndarray:
    """Read ``path`` as a mono float32 wave of shape ``(samples,)``; see :func:`read_audio`."""
    return read_audio(path, sample_rate, max_seconds, resampler).wave


def read_audio(path: str | Path, sample_rate: int, max_seconds: float,
               resampler: Resampler = "sinc") -> Audio:
    """Read ``path`` as a mono float32 wave at ``sample_rate``, keeping its native rate.

    Multichannel audio is mixed to mono by the channel mean. Missing, unreadable, empty,
    non-finite, silent (peak < :data:`SILENCE_PEAK`), too-short, too-long, too-large (frames x channels
    over :data:`~spectcontra.conventions.MAX_AUDIO_SAMPLES`) and absurd-rate files raise
    :class:`AudioError`. Length, size and rate are checked from the header before any sample
    is read. A file at another rate is converted by ``resampler`` (see :func:`resample`).
    """
    if not MIN_AUDIO_RATE <= sample_rate <= MAX_AUDIO_RATE:
        raise ValueError(f"sample_rate must be in [{MIN_AUDIO_RATE}, {MAX_AUDIO_RATE}], "
                         f"got {sample_rate}")
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    if resampler not in RESAMPLERS:
        raise ValueError(f"resampler must be one of {RESAMPLERS}, got {resampler!r}")
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file")
    # As bytes: soundfile encodes a str name strictly as UTF-8, so a file whose name is not
    # UTF-8 (Python holds such names with surrogate escapes) could not be opened at all.
    name = os.fsencode(path)
    try:
        info = sf.info(name)
    except (sf.SoundFileError, RuntimeError, OSError) as err:
        raise AudioError(path, f"unreadable ({err})") from err
    _check_header(path, info.samplerate, info.channels, info.frames, max_seconds)
    try:
        data, file_rate = sf.read(name, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as err:
        raise AudioError(path, f"unreadable ({err})") from err
    if data.shape[0] == 0:
        raise AudioError(path, "no samples")
    if not np.isfinite(data).all():
        raise AudioError(path, "contains NaN or infinite samples")
    wave = data.mean(axis=1, dtype=np.float32)  # (samples,)
    if float(np.abs(wave).max()) < SILENCE_PEAK:
        raise AudioError(path, f"silent (peak below {SILENCE_PEAK:g})")
    return Audio(resample(wave, file_rate, sample_rate, resampler), sample_rate, file_rate)


def _check_header(path: Path, rate: int, channels: int, frames: int, max_seconds: float) -> None:
    """Refuse, from the header alone, a file whose samples are absurd or would not fit."""
    if rate < MIN_AUDIO_RATE:
        raise AudioError(path, f"sample rate {rate} Hz is below {MIN_AUDIO_RATE} Hz")
    if rate > MAX_AUDIO_RATE:
        raise AudioError(path, f"sample rate {rate} Hz is above {MAX_AUDIO_RATE} Hz")
    if channels < 1:
        raise AudioError(path, f"{channels} channels")
    if frames <= 0:
        raise AudioError(path, "no samples")
    seconds = frames / rate
    if seconds < MIN_AUDIO_SECONDS:
        raise AudioError(path, f"{frames} samples ({seconds:.3g} s) is shorter than the "
                               f"{MIN_AUDIO_SECONDS:g} s minimum")
    if seconds > max_seconds:
        raise AudioError(path, f"{seconds:.1f} s is longer than the {max_seconds:g} s limit")
    if frames * channels > MAX_AUDIO_SAMPLES:
        raise AudioError(path, f"{seconds:.1f} s x {channels} channels x {rate} Hz is "
                               f"{frames * channels:,} samples ({frames * channels * 4 / 2**30:.1f}"
                               f" GiB as float32), over the {MAX_AUDIO_SAMPLES:,}-sample limit")


def resample(wave: np.ndarray, orig_rate: int, new_rate: int,
             resampler: Resampler = "sinc") -> np.ndarray:
    """Resample a 1-D wave; output length is ``ceil(len * new_rate / orig_rate)``.

    The two resamplers agree in the passband but not to the last bit, so a model scores a
    resampled file slightly differently under each; a file already at ``new_rate`` is
    returned as is by both.
    """
    if orig_rate == new_rate:
        return np.ascontiguousarray(wave, dtype=np.float32)
    g = math.gcd(orig_rate, new_rate)
    if resampler == "sinc" and (orig_rate // g) * (new_rate // g) <= MAX_SINC_KERNEL:
        # Imported here, not at the top: torch alone costs ~590 MB of RSS, which the
        # torch-free ONNX scorer (resampler="polyphase") and same-rate files never need.
        import torch
        import torchaudio.functional as AF

        out = AF.resample(torch.from_numpy(np.ascontiguousarray(wave)), orig_rate, new_rate)
        return out.numpy().astype(np.float32, copy=False)
    # Imported here too: scipy.signal adds tens of MB that a same-rate file never needs.
    from scipy.signal import resample_poly

    out = resample_poly(wave, new_rate // g, orig_rate // g)
    return out.astype(np.float32)


def frame_energy_db(wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int, int]:
    """(energy_db (n_frames,), frame, hop): mean-square energy of 25 ms frames every 10 ms.

    The last frame is zero-padded so the frames cover every sample; a wave shorter than one
    frame gives one frame. The one silence detector of the project: trimming and the shortcut
    audit both read it.
    """
    frame = max(1, int(round(TRIM_FRAME_SECONDS * sample_rate)))
    hop = max(1, int(round(TRIM_HOP_SECONDS * sample_rate)))
    n_frames = 1 + max(0, math.ceil((wave.shape[0] - frame) / hop))
    padded = np.zeros((n_frames - 1) * hop + frame, dtype=np.float64)
    padded[:wave.shape[0]] = wave
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]  # (n_frames, frame)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-20), frame, hop


def trim_silence(wave: np.ndarray, sample_rate: int, top_db: float) -> np.ndarray:
    """Drop leading/trailing frames quieter than the loudest frame minus ``top_db`` dB.

    Energy is the mean square over 25 ms frames with a 10 ms hop; the kept span runs from the
    start of the first loud frame to the end of the last. Never returns an empty array.
    """
    if wave.ndim != 1:
        raise ValueError(f"trim_silence expects a 1-D wave, got shape {wave.shape}")
    if top_db <= 0:
        raise ValueError(f"top_db must be > 0, got {top_db}")
    n = wave.shape[0]
    energy_db, frame, hop = frame_energy_db(wave, sample_rate)
    if n <= frame:
        return wave
    loud = np.flatnonzero(energy_db >= energy_db.max() - top_db)
    start = int(loud[0]) * hop
    end = min(n, int(loud[-1]) * hop + frame)
    if end <= start:
        return wave
    return wave[start:end]


def find_audio(folder: str | Path) -> list[Path]:
    """Audio files under ``folder``, recursively, by extension (:data:`AUDIO_EXTENSIONS`).

    Sorted by path so a rerun scores in the same order. Hidden files and folders are skipped
    (macOS leaves ``._NAME.wav`` metadata files, which are not audio, beside real ones), and
    symlinked folders are not entered, so a link cycle cannot loop.
    """
    return sorted(_walk_audio(Path(folder)))


def _walk_audio(folder: Path) -> Iterator[Path]:
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                yield Path(parent) / name
