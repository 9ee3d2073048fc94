"""Eval channel conditions (ASVspoof 2021 LA/DF style): a clean wave through a lossy channel.

Each condition maps a mono wave to the wave a listener would receive, at the same rate and
length, by maintained codecs and filters only: MP3 (LAME) and Opus (libopus), both through
FFmpeg by PyAV; telephone (8 kHz, a 300-3400 Hz band-pass of torchaudio biquads, G.711
mu-law by libsndfile); additive white noise at a fixed SNR (``torchaudio.functional.add_noise``),
seeded per utterance so the same clip always gets the same noise.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from spectcontra.audio import resample
from spectcontra.data.dsp import fit_length

TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)  # ITU-T G.712 voice band
_NOISE_TAG = 7  # keeps the noise stream apart from any other stream drawn from the same seed


@dataclass(frozen=True)
class ChannelSettings:
    """What the conditions need from params (``conditions`` section)."""

    mp3_kbps: int
    opus_kbps: int
    noise_snr_db: float


def _clip(wave: np.ndarray) -> np.ndarray:
    # Codecs take full-scale PCM; a peak above 1 would wrap or clip inside the encoder.
    return np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0)


def ffmpeg_roundtrip(wave: np.ndarray, sample_rate: int, container: str, codec: str,
                     bit_rate: int) -> np.ndarray:
    """Encode a mono wave with an FFmpeg encoder into ``container`` in memory, decode it back.

    Returns the decoded mono float32 wave resampled to ``sample_rate`` and cut or padded to
    the input length (the demuxers drop the encoder delay, so only the codec's last partial
    frame differs in length).
    """
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=sample_rate)
        stream.bit_rate = bit_rate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(_clip(wave)[None, :], format="flt", layout="mono")
        frame.sample_rate = sample_rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as inp:
        frames = list(inp.decode(inp.streams.audio[0]))
    rate = frames[0].sample_rate  # libopus decodes at 48 kHz whatever the input rate
    # (channels, samples) for planar formats, (1, samples * channels) for packed ones; mono here
    decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)
    return fit_length(resample(decoded, rate, sample_rate), wave.size).astype(np.float32)


def mp3(wave: np.ndarray, sample_rate: int, settings: ChannelSettings, utt_id: str,
        seed: int) -> np.ndarray:
    """MP3 at ``settings.mp3_kbps`` kbit/s constant bit rate (LAME)."""
    return ffmpeg_roundtrip(wave, sample_rate, "mp3", "libmp3lame", settings.mp3_kbps * 1000)


def opus(wave: np.ndarray, sample_rate: int, settings: ChannelSettings, utt_id: str,
         seed: int) -> np.ndarray:
    """Ogg Opus at ``settings.opus_kbps`` kbit/s (libopus; it codes 8/12/16/24/48 kHz input)."""
    return ffmpeg_roundtrip(wave, sample_rate, "ogg", "libopus", settings.opus_kbps * 1000)


def telephone(wave: np.ndarray, sample_rate: int, settings: ChannelSettings, utt_id: str,
              seed: int) -> np.ndarray:
    """A narrowband phone line: 8 kHz, 300-3400 Hz band-pass, G.711 mu-law, back to the rate."""
    narrow = torch.from_numpy(resample(_clip(wave), sample_rate, TELEPHONE_RATE))
    low, high = TELEPHONE_BAND_HZ
    band = AF.lowpass_biquad(AF.highpass_biquad(narrow, TELEPHONE_RATE, low),
                             TELEPHONE_RATE, high).numpy()
    buffer = io.BytesIO()
    sf.write(buffer, _clip(band), TELEPHONE_RATE, format="WAV", subtype="ULAW")
    buffer.seek(0)
    coded, _ = sf.read(buffer, dtype="float32")
    return fit_length(resample(coded, TELEPHONE_RATE, sample_rate), wave.size).astype(np.float32)


def noise(wave: np.ndarray, sample_rate: int, settings: ChannelSettings, utt_id: str,
          seed: int) -> np.ndarray:
    """White Gaussian noise at ``settings.noise_snr_db`` dB SNR over the whole clip.

    The noise is drawn from ``(seed, utt_id)``: the same clip always gets the same noise,
    whatever order the clips are processed in.
    """
    rng = np.random.default_rng([seed, _NOISE_TAG, zlib.crc32(utt_id.encode("utf-8"))])
    clean = torch.from_numpy(np.asarray(wave, dtype=np.float32))
    white = torch.from_numpy(rng.standard_normal(wave.size).astype(np.float32))
    noisy = AF.add_noise(clean, white, torch.tensor(float(settings.noise_snr_db)))
    return noisy.numpy()


Condition = Callable[[np.ndarray, int, ChannelSettings, str, int], np.ndarray]
CONDITIONS: dict[str, Condition] = {"mp3": mp3, "opus": opus, "telephone": telephone,
                                    "noise": noise}


def apply_condition(name: str, wave: np.ndarray, sample_rate: int, settings: ChannelSettings,
                    utt_id: str, seed: int) -> np.ndarray:
    """``wave`` (samples,) at ``sample_rate`` through condition ``name``: same rate and length."""
    if name not in CONDITIONS:
        raise ValueError(f"unknown channel condition {name!r}; expected one of {sorted(CONDITIONS)}")
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"condition {name} expects a non-empty 1-D wave, got shape {wave.shape}")
    return CONDITIONS[name](wave, sample_rate, settings, utt_id, seed)
