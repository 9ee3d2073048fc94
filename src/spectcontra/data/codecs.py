"""Source channels: decode a recording, and send any wave back through the codec it came in.

A copy-synthesis spoof must not differ from its bona fide source by anything but the vocoder,
so both classes leave through the source's channel: resampled to the source's rate, encoded
and decoded by the source's codec (G.722 by FFmpeg through PyAV; Ogg Vorbis, Ogg Opus and
16-bit PCM by libsndfile through soundfile), and resampled back. Codecs run in memory.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from spectcontra.audio import resample
from spectcontra.data.dsp import fit_length

CODECS = ("g722", "vorbis", "opus", "pcm16")
G722_RATE = 16000  # G.722 codes 16 kHz audio, 4 bits a sample at 64 kbit/s
_SOUNDFILE = {"vorbis": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS"), "pcm16": ("WAV", "PCM_16")}
CODEC_OF_SUBTYPE = {"VORBIS": "vorbis", "OPUS": "opus", "PCM_16": "pcm16"}
# Bisection steps when matching a lossy codec's compression level to a source file's size:
# 5 halvings resolve the level to 1/32 of libsndfile's [0, 1] range.
LEVEL_STEPS = 5


@dataclass(frozen=True)
class Channel:
    """The codec of a source recording at its sample rate.

    ``compression_level`` is libsndfile's setting for Vorbis and Opus, 0 (best) to 1
    (smallest); G.722 has one mode and PCM none, so it is ignored for them.
    """

    codec: str
    sample_rate: int
    compression_level: float = 0.0

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r}; expected one of {CODECS}")
        if self.codec == "g722" and self.sample_rate != G722_RATE:
            raise ValueError(f"G.722 runs at {G722_RATE} Hz, got {self.sample_rate}")
        if not 0.0 <= self.compression_level <= 1.0:
            raise ValueError(f"compression_level must be in [0, 1], got {self.compression_level}")


def decode_file(path: str | Path, codec: str) -> tuple[np.ndarray, int]:
    """(mono float32 wave, sample rate) of a recording; channels are averaged."""
    if codec == "g722":
        # Raw G.722 has no header, so the demuxer must be named.
        with av.open(str(path), format="g722") as container:
            frames = [f.to_ndarray() for f in container.decode(container.streams.audio[0])]
        pcm = np.concatenate(frames, axis=1) if frames else np.zeros((1, 0), np.int16)
        return (pcm.mean(axis=0) / 32768.0).astype(np.float32), G722_RATE
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1, dtype=np.float32), int(rate)


def encode_g722(wave: np.ndarray) -> bytes:
    """Raw G.722 (64 kbit/s) of a 16 kHz wave, as Asterisk stores its prompts."""
    pcm = np.round(np.clip(wave, -1.0, 1.0) * 32767).astype(np.int16)[None, :]  # (1, samples)
    encoder = av.CodecContext.create("g722", "w")
    encoder.sample_rate, encoder.layout, encoder.format = G722_RATE, "mono", "s16"
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = G722_RATE
    return b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)])


def decode_g722(data: bytes) -> np.ndarray:
    """The float32 16 kHz wave of raw G.722 bytes."""
    if not data:
        return np.zeros(0, np.float32)  # an empty packet would read as end of stream
    decoder = av.CodecContext.create("g722", "r")
    decoder.sample_rate, decoder.layout = G722_RATE, "mono"
    # G.722 has no frame structure (every byte codes two samples): one packet holds it all.
    frames = [f.to_ndarray() for p in (av.Packet(data), None) for f in decoder.decode(p)]
    return (np.concatenate(frames, axis=1)[0] / 32768.0).astype(np.float32)


def _soundfile_bytes(wave: np.ndarray, channel: Channel) -> bytes:
    fmt, subtype = _SOUNDFILE[channel.codec]
    buffer = io.BytesIO()
    extra = {} if channel.codec == "pcm16" else {"compression_level": channel.compression_level}
    sf.write(buffer, np.clip(wave, -1.0, 1.0), channel.sample_rate, format=fmt, subtype=subtype,
             **extra)
    return buffer.getvalue()


def encode_decode(wave: np.ndarray, channel: Channel) -> np.ndarray:
    """``wave`` (at ``channel.sample_rate``) after one trip through the codec; same length.

    Codecs and resamplers may round a length; every step here crops or pads back to it.
    """
    if channel.codec == "g722":
        return fit_length(decode_g722(encode_g722(wave)), wave.size).astype(np.float32)
    decoded, _ = sf.read(io.BytesIO(_soundfile_bytes(wave, channel)), dtype="float32")
    return fit_length(decoded, wave.size).astype(np.float32)


def through_channel(wave: np.ndarray, sample_rate: int, channel: Channel) -> np.ndarray:
    """``wave`` at ``sample_rate`` sent through ``channel`` and back; same length and rate."""
    at_source = resample(wave, sample_rate, channel.sample_rate)
    coded = encode_decode(at_source, channel)
    return fit_length(resample(coded, channel.sample_rate, sample_rate), wave.size).astype(np.float32)


def matching_level(wave: np.ndarray, codec: str, sample_rate: int, file_bytes: int) -> float:
    """The compression level at which ``wave`` encodes to about ``file_bytes`` bytes.

    For the lossy soundfile codecs, a bisection on the encoded size, which falls as the level
    rises: re-encoding a source recording at this level spends about the bit rate its own
    file spends, so both classes carry coding noise of a like strength. Waves are mono: a
    stereo source's bytes buy its mono copy at least the source's quality. Other codecs: 0.
    """
    if codec not in ("vorbis", "opus"):
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(LEVEL_STEPS):
        mid = 0.5 * (low + high)
        if len(_soundfile_bytes(wave, Channel(codec, sample_rate, mid))) > file_bytes:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)
